"""`python -m genimg ...`: runs the command line, with allocator settings that speed up CPU training.

glibc's malloc returns freed memory to the system after every training step, and the next step faults
it back in (about 13,000 page faults a step for a 28×28 DCGAN). Raising its trim and mmap thresholds
keeps that memory, which measured about 40% more images/s on a 2-core CPU. The variables only work
if set before the process starts, so the command re-executes itself once with them set
(`genimg.config.reexec_with_allocator_settings`). `bench load` re-executes with the page's own setting
instead (MALLOC_ARENA_MAX=2, see app.py), so it measures memory as the page uses it. Set
GENIMG_KEEP_MALLOC=1 to skip this.
"""

import sys

from genimg.config import PAGE_ALLOCATOR_SETTINGS, reexec_with_allocator_settings

if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "train":
        reexec_with_allocator_settings()
    elif sys.argv[1:3] == ["bench", "load"]:
        reexec_with_allocator_settings(PAGE_ALLOCATOR_SETTINGS)
    from genimg.cli import main

    sys.exit(main())
