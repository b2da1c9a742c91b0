"""Names shared by the script API and the engine."""

# Environment variables through which the engine talks to a script.
ENV_FIGURE_DIR = "LRCTL_FIGURE_DIR"
ENV_RESULT_FILE = "LRCTL_RESULT_FILE"
ENV_QUICK = "LRCTL_QUICK"
# Set in every analysis process (and inherited by its children): the id of the run, so that
# the next run can find and stop the processes of a run that was killed with SIGKILL.
ENV_RUN_ID = "LRCTL_REPORT_RUN"
PROGRESS_PREFIX = "[lrctl-progress] "

STATUS_OK = "ok"
STATUS_FAILED = "failed"
# An analysis whose script declared a missing optional module (``an.requires``): not a failure.
STATUS_SKIPPED = "skipped"

# The file by which lrctl recognizes a folder it wrote (a report, or the temporary folder of
# a run). It lists the files lrctl wrote there; --out replaces only such a folder.
MARKER = ".lrctl-report"

# Seconds after which one analysis is stopped and reported as failed (``--timeout``; 0 = none).
DEFAULT_TIMEOUT = 1800.0
