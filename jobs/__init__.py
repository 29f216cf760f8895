"""archiver's jobs: the scheduler, the run supervisor and the command line."""
