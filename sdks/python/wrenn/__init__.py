"""Wrenn's Python SDK, shaped like E2B's: moving over is a change of import.

    from wrenn import Sandbox

    sandbox = Sandbox.create()  # WRENN_API_KEY and WRENN_API_URL from the environment
    print(sandbox.commands.run("uname -a").stdout)
    sandbox.kill()
"""

from ._contract import ERROR_CODES, IO_LIMITS, LIMITS, SandboxState
from .api_client import SDK_VERSION as __version__
from .async_client import (
    AsyncSandboxRecordsClient,
    AsyncSnapshotsClient,
    AsyncTemplatesClient,
    AsyncWorkspacesClient,
    AsyncWrennClient,
)
from .async_commands import AsyncCommandHandle, AsyncCommands, AsyncPty
from .async_sandbox import AsyncSandbox, AsyncSandboxPaginator
from .command_handle import CommandHandle, CommandResult
from .commands import Commands, ProcessInfo
from .connection_config import ConnectionConfig
from .exceptions import (
    AuthenticationException,
    CommandExitException,
    CommandTimeoutException,
    ConflictException,
    ConnectionException,
    FileNotFoundException,
    InvalidArgumentException,
    NotEnoughSpaceException,
    NotFoundException,
    PermissionDeniedException,
    RateLimitException,
    SandboxException,
    SandboxNotFoundException,
    SandboxNotRunningException,
    ServerException,
    StreamLostException,
    TimeoutException,
    UnexpectedResponseException,
    WrennError,
)
from .filesystem import (
    EntryInfo,
    FileType,
    Filesystem,
    FilesystemEvent,
    FilesystemEventType,
    WatchHandle,
    WriteEntry,
    WriteInfo,
)
from .pty import Pty, PtySize
from .sandbox import Sandbox
from .sandbox_info import (
    SandboxInfo,
    SandboxMetrics,
    SandboxNetwork,
    SandboxNetworkOpts,
    SandboxNetworkUpdate,
    SandboxPaginator,
    SandboxQuery,
)
from .sandbox_records import SandboxRecordsClient
from .secrets import SecretInfo, Secrets
from .workspaces import WorkspaceInfo, Workspaces, WorkspacesClient
from .wrenn_client import (
    Fork,
    ForkError,
    Snapshot,
    SnapshotPage,
    SnapshotsClient,
    Template,
    TemplateBuild,
    TemplateError,
    TemplateLogEntry,
    TemplatesClient,
    WrennClient,
)

__all__ = [
    "SecretInfo",
    "Secrets",
    "ERROR_CODES",
    "IO_LIMITS",
    "LIMITS",
    "AsyncCommandHandle",
    "AsyncCommands",
    "AsyncPty",
    "AsyncSandbox",
    "AsyncSandboxPaginator",
    "AsyncSandboxRecordsClient",
    "AsyncSnapshotsClient",
    "AsyncTemplatesClient",
    "AsyncWorkspacesClient",
    "AsyncWrennClient",
    "AuthenticationException",
    "CommandExitException",
    "CommandHandle",
    "CommandResult",
    "CommandTimeoutException",
    "Commands",
    "ConflictException",
    "ConnectionConfig",
    "ConnectionException",
    "EntryInfo",
    "FileNotFoundException",
    "FileType",
    "Fork",
    "ForkError",
    "Filesystem",
    "FilesystemEvent",
    "FilesystemEventType",
    "InvalidArgumentException",
    "NotEnoughSpaceException",
    "NotFoundException",
    "PermissionDeniedException",
    "ProcessInfo",
    "Pty",
    "PtySize",
    "RateLimitException",
    "Sandbox",
    "SandboxException",
    "SandboxInfo",
    "SandboxMetrics",
    "SandboxNetwork",
    "SandboxNetworkOpts",
    "SandboxNetworkUpdate",
    "SandboxNotFoundException",
    "SandboxNotRunningException",
    "SandboxPaginator",
    "SandboxQuery",
    "SandboxRecordsClient",
    "SandboxState",
    "ServerException",
    "Snapshot",
    "SnapshotPage",
    "SnapshotsClient",
    "StreamLostException",
    "Template",
    "TemplateBuild",
    "TemplateError",
    "TemplateLogEntry",
    "TemplatesClient",
    "TimeoutException",
    "UnexpectedResponseException",
    "WatchHandle",
    "WorkspaceInfo",
    "Workspaces",
    "WorkspacesClient",
    "WrennClient",
    "WrennError",
    "WriteEntry",
    "WriteInfo",
    "__version__",
]
