"""Imported once by the extraction workers' server process, before it forks any worker.

The extractor and the language model (which takes a moment to load) are then
loaded once and shared by every worker, instead of loaded again in each.
"""

import crawler.extract  # noqa: F401 - imported for the workers
from crawler.extraction import language

language.warm_up()
