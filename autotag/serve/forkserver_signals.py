"""Imported by the decoding forkserver alone (its preload), never by the service: it and the
decoding processes it forks ignore SIGTERM and SIGINT.

Why: systemd and a terminal's Ctrl-C signal the whole process group. The service drains on
those signals, finishing the requests in flight, and needs its decoders for that; had they died
with the group, each upload in flight would have failed as a "decoder crash". The service stops
them itself once it has drained.
"""

import signal

signal.signal(signal.SIGTERM, signal.SIG_IGN)
signal.signal(signal.SIGINT, signal.SIG_IGN)
