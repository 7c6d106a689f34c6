"""HTTP bodies and parameters, by what they hold. A `...Public` schema never has a value field.

Every request body and every answer is a Struct of sealbox.protocol (bodies decoded by server.bodies,
answers encoded by msgspec: server.openapi.struct_response), named here too.
fields.py: ids and times (the error body is in protocol.errors); params.py: path, query and header parameters;
secrets.py, sessions.py, accounts.py, sharing.py, audit.py: build those routes' answers from the
domain's and the services' results.
"""

from sealbox.protocol.account_api import ServiceAccountCreate, TokenCreate, UserCreate
from sealbox.protocol.errors import ErrorBody, FieldProblem
from sealbox.protocol.health_api import Health, Ready
from sealbox.protocol.secret_api import SecretCreate, SecretReplace, SecretUpdate, SecretValue
from sealbox.protocol.sharing_api import CollectionIn, GrantIn, GroupMemberIn, ProjectMemberIn
from sealbox.server.schemas.accounts import TokenIssued, TokenPublic, UserCreated, UserPublic
from sealbox.server.schemas.audit import AuditPage, AuditRecord
from sealbox.server.schemas.fields import Timestamp
from sealbox.server.schemas.secrets import (
    DeletedSecretPublic,
    DeletedSecrets,
    MountingSession,
    SecretPage,
    SecretPublic,
    SecretVersionPublic,
    UnshareOut,
)
from sealbox.server.schemas.sessions import (
    CredentialCreate,
    FailureReport,
    RedeemedItem,
    RedeemRequest,
    RedeemResponse,
    RoleAnswer,
    RoleReport,
    ServiceFetchIn,
    ServiceSecretIn,
    ServiceSessionSecretIn,
    ServiceUsableSecret,
    SessionCreate,
    SessionCreated,
    SessionPublic,
    SessionSecretIn,
    SessionSecretPublic,
)
from sealbox.server.schemas.sharing import (
    CollectionPublic,
    GrantPublic,
    InvitationPublic,
    Member,
    MemberChange,
    Membership,
)

# The request bodies of the routes outside /sessions, whose schemas the OpenAPI document carries.
BODY_STRUCTS = (
    SecretCreate,
    SecretReplace,
    SecretUpdate,
    GrantIn,
    CollectionIn,
    GroupMemberIn,
    ProjectMemberIn,
    TokenCreate,
    UserCreate,
    ServiceAccountCreate,
)

__all__ = [
    "BODY_STRUCTS",
    "AuditPage",
    "AuditRecord",
    "CollectionIn",
    "CollectionPublic",
    "CredentialCreate",
    "DeletedSecretPublic",
    "DeletedSecrets",
    "ErrorBody",
    "FailureReport",
    "FieldProblem",
    "GrantIn",
    "GrantPublic",
    "GroupMemberIn",
    "Health",
    "InvitationPublic",
    "Member",
    "MemberChange",
    "Membership",
    "MountingSession",
    "ProjectMemberIn",
    "Ready",
    "RedeemRequest",
    "RedeemResponse",
    "RedeemedItem",
    "RoleAnswer",
    "RoleReport",
    "SecretCreate",
    "SecretPage",
    "SecretPublic",
    "SecretReplace",
    "SecretUpdate",
    "SecretValue",
    "SecretVersionPublic",
    "ServiceAccountCreate",
    "ServiceFetchIn",
    "ServiceSecretIn",
    "ServiceSessionSecretIn",
    "ServiceUsableSecret",
    "SessionCreate",
    "SessionCreated",
    "SessionPublic",
    "SessionSecretIn",
    "SessionSecretPublic",
    "Timestamp",
    "TokenCreate",
    "TokenIssued",
    "TokenPublic",
    "UnshareOut",
    "UserCreate",
    "UserCreated",
    "UserPublic",
]
