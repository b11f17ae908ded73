"""Download, verify and extract MagnaTagATune (MTAT, the default) or MTG-Jamendo.

Usage::

    python -m autotag.data.download --root data/mtat [--base-url URL] [--keep-zip] [--no-extract]
    python -m autotag.data.download dataset=jamendo [root=data/jamendo] [audio=audio-low]
        [folders=0-9] [--keep-tars] [--no-extract] [--metadata-only] [--base-url URL]

(``key=value`` tokens are the same as ``--key value``.)

Each file downloads to ``<name>.part`` (resumed with HTTP ``Range``, retried with backoff) and gets
its final name once its size (and md5, where known) is right; the three zip parts are joined into
``mp3.zip``, every member is CRC-tested while it is extracted into ``root`` (a corrupt member names
the part holding it), and a manifest (``root/.mtat_complete.tsv``) makes a second run a no-op.

MTG-Jamendo: the metadata and splits (a pinned commit of MTG/mtg-jamendo-dataset) go to
``root/data``; each of the 100 tar parts is resumed, checked against the published sha256,
extracted safely into ``root/audio/NN/``, its tracks checked against their sha256 and the tar
deleted; a mark per part (``root/.complete/``) makes a second run a no-op. A bad part is
reported and the others go on; the run then exits 1 naming every failed part.

Exit codes: 0 success, 1 download/verification error, 2 host unreachable (with instructions for a
manual download), 130 interrupted (run again to resume).

Modules, one job each (the data sets' own files, addresses and runs are in
:mod:`autotag.data.datasets`: ``mtat/sources.py`` + ``mtat/download.py``, ``jamendo/...``):

* :mod:`~autotag.data.datasets.mtat.sources` -- the data set's files, address, md5/sizes, manual steps;
* :mod:`~autotag.data.download.http` -- resumable, retried HTTP transfer of one file;
* :mod:`~autotag.data.datasets.mtat.verify` -- MTAT's checks of a downloaded file (md5, header);
* :mod:`~autotag.data.datasets.jamendo.sources` -- MTG-Jamendo's files, addresses, sha256 lists;
* :mod:`~autotag.data.download.archive` -- md5/sha256 of a file, joining parts, testing and
  extracting (zip; tar with every member checked first);
* :mod:`~autotag.data.download.completion` -- size lists: is an extraction still complete;
* :mod:`~autotag.data.datasets.mtat.completion` -- MTAT's manifest, adopting a manual copy;
* :mod:`~autotag.data.datasets.mtat.download` -- :func:`download_mtat`, the whole run;
* :mod:`~autotag.data.datasets.jamendo.download` -- :func:`download_jamendo`, the whole run;
* :mod:`~autotag.data.download.cli` -- :func:`main`: flags, messages and exit codes;
* :mod:`~autotag.data.download.errors` -- errors (output: :mod:`autotag.common.console`).

Tunables (``BACKOFF_S``, ``TIMEOUT_S``, ``CHUNK``, ...) are not re-exported here: set them on the
module that reads them (e.g. ``autotag.data.download.http.BACKOFF_S``).
"""

from autotag.data.download.archive import extract_zip, join_parts
from autotag.data.download.errors import CorruptDataError, DownloadError, HostUnreachableError
from autotag.data.download.http import download_file

__all__ = [
    "CorruptDataError",
    "DownloadError",
    "HostUnreachableError",
    "download_file",
    "extract_zip",
    "join_parts",
]
