"""Names shared by the script API and the engine."""

# Environment variables through which the engine talks to a script.
ENV_FIGURE_DIR = "LRCTL_FIGURE_DIR"
ENV_RESULT_FILE = "LRCTL_RESULT_FILE"
ENV_QUICK = "LRCTL_QUICK"
PROGRESS_PREFIX = "[lrctl-progress] "

STATUS_OK = "ok"
STATUS_CLAIM_FAILED = "claims-failed"
STATUS_FAILED = "failed"
