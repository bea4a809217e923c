"""The packed record a scan makes of a child it meets and compares with a version's (core/index/scanned.py):
size, mtime, inode, ctime and mode, then what the child is. Its own module, light to import, so the scan's
prefetch (core/capture/prefetch.py) makes records in a process that loads none of the index."""

from __future__ import annotations

import struct

# size, mtime_ns, inode, ctime_ns, mode, then what the row is: FILE (a file that exists), FOLDER, a link, a deletion
RECORD = struct.Struct("<qqQqIB")
FILE, FOLDER, LINK, GONE = range(4)
pack = RECORD.pack
