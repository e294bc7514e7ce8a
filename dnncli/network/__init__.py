"""The network math: activations, initializers, losses, forward and backward, gradient check."""

from dnncli.network.gradcheck import GradCheckResult, gradient_check
from dnncli.network.model import Cache, Network

__all__ = ["Cache", "GradCheckResult", "Network", "gradient_check"]
