"""What reaches stdout and stderr: the rich consoles and ``NO_COLOR`` (``console``), text from
outside shown as it is (``display``), streams that fail the way the exit codes say (``streams``),
progress on stderr (``progress``), and what ``dnn --help`` leaves out (``startup``). Nothing is
imported here: ``dnn --help`` stays fast."""
