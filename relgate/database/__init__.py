"""PostgreSQL backups and restores: the only package that runs pg_dump, psql and pg_restore.

* :mod:`~relgate.database.connection` — reaching the database (a DSN as libpq variables, or
  ``compose exec`` into deploy's own project);
* :mod:`~relgate.database.records` — the ``<backup>.json`` sidecar, digests, formats, file names;
* :mod:`~relgate.database.backup` — taking a backup, and checking one before it is trusted;
* :mod:`~relgate.database.retention` — which backups stay (``database.retention``);
* :mod:`~relgate.database.restore` — restoring into a fresh database swapped in on success.

Commands are built by pure functions (:meth:`Connection.argv`, :func:`restore_argv`…) and run by
:func:`relgate.proc.run`, the runner relgate shares everywhere; every function takes ``runner=`` so
tests may record the commands. This module is the public door: import from ``relgate.database``.
"""

from relgate.database.backup import backup, check_backup, dump_argv, server_version, take_backup
from relgate.database.connection import CommandRunner, Connection, connect, dsn_environment
from relgate.database.records import (
    BackupCheck,
    BackupFormat,
    BackupKind,
    BackupRecord,
    backup_file_name,
    detect_format,
    find_backups,
    read_record,
    sha256_file,
    sidecar_path,
)
from relgate.database.restore import (
    RestoreError,
    RestoreRehearsal,
    manual_restore_command,
    rehearse_restore,
    restore_argv,
    restore_fresh,
    sql_argv,
)

__all__ = [
    "BackupCheck",
    "BackupFormat",
    "BackupKind",
    "BackupRecord",
    "CommandRunner",
    "Connection",
    "RestoreError",
    "RestoreRehearsal",
    "backup",
    "backup_file_name",
    "check_backup",
    "connect",
    "detect_format",
    "dsn_environment",
    "dump_argv",
    "find_backups",
    "manual_restore_command",
    "read_record",
    "rehearse_restore",
    "restore_argv",
    "restore_fresh",
    "server_version",
    "sha256_file",
    "sidecar_path",
    "sql_argv",
    "take_backup",
]
