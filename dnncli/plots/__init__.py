"""The pictures dnn draws: learning curves (``loss.png``, ``dnn plot curves``), decision boundaries
(``boundary.png``, ``dnn plot boundary``), misclassified examples and confusion matrices
(``dnn evaluate --errors / --confusion``).

Every picture is drawn with one fixed style and saved by :func:`dnncli.plots.figure.save`: the same
inputs give the same bytes, the file is written atomically, and text read from files (class names,
paths) is shown as it is, never interpreted as mathtext. matplotlib is imported only when a
picture is drawn.
"""
