"""Warm-up of a run's step processes: imported once per run by the forkserver that every
step is forked from (``STEP_EXECUTOR`` in :mod:`platform_assets.definitions`).

Importing it builds the environment's code location, so each forked step finds it built
instead of assembling it again (about 0.6 s a step here). Nothing else imports it.
"""

from platform_assets.definitions import environment_definitions

try:
    environment_definitions().get_repository_def()
except Exception:  # the warm-up is only a head start
    # A forkserver whose preload raises anything but ImportError dies, and every step of
    # the run with it ("unexpected EOF"). Settings the environment does not hold, or a
    # job that is not the environment's, are each step's to report: it builds its own.
    pass
