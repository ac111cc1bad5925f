"""Worker entry point: ``python agent.py dev | start | console | download-files``.

Everything lives in the ``outbound_caller`` package; see outbound_caller/worker.py.
"""

import sys

from outbound_caller.worker import main

if __name__ == "__main__":
    sys.exit(main())
