"""The workflow runtime on SpiffWorkflow. The public API is re-exported here.

Kept light on purpose: SpiffWorkflow is imported only by what steps an instance, so that
reading commands (listing tasks, say) start fast.
"""

from .app import Engine
from .clock import Clock, SimulatedClock, SystemClock
from .errors import OpsqaError
from .registry import HandlerContext, Registry
from .users import Actor

__all__ = ["Actor", "Clock", "Engine", "HandlerContext", "OpsqaError", "Registry", "SimulatedClock", "SystemClock"]
