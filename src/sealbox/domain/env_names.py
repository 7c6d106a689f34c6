"""Which environment variable names a mapping may set: the one rule, by family, case-insensitive.

A mapping puts a value that someone else may control (the owner of a shared secret) into a variable of
the grantee's process. A variable that a program reads as more than data would hand that owner the
grantee's job: code to load or run, a file or folder to read, a command, a connection route for the
grantee's other traffic, or a trust anchor. So a name is refused when it belongs to a family of such
settings, by prefix, suffix or exact name. Names of credentials themselves (`AWS_SECRET_ACCESS_KEY`,
`DATABASE_URL`, `PGPASSWORD`, `GITHUB_TOKEN`, `OPENAI_API_KEY`) are what sealbox is for and stay allowed.

Every path that maps a variable reaches `check_env_name` (through `launches.Mapping.validated`): the
API, `sealbox run` and its job specs, the web start page, the JupyterHub form and link, the service
sessions a hub or an init container starts from; the session side checks again before it sets one.
The OpenAPI document states the same rule as a pattern built from this table (`ENV_NAME_PATTERN`).
"""

from __future__ import annotations

import re

import msgspec

from sealbox.errors import BadRequest

MAX_ENV_NAME = 128
_ENV_SYNTAX = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


class EnvFamily(msgspec.Struct, frozen=True, kw_only=True):
    """Names that configure one kind of thing; `why` is shown when a name is refused."""

    why: str
    prefixes: tuple[str, ...] = ()
    suffixes: tuple[str, ...] = ()
    names: tuple[str, ...] = ()

    def holds(self, upper: str) -> bool:
        return upper in self.names or upper.startswith(self.prefixes) or upper.endswith(self.suffixes)


FAMILIES: tuple[EnvFamily, ...] = (
    # sealbox sets these itself (the folder, the session id, the variable map) and reads its own settings.
    EnvFamily(why="sealbox's own variables", prefixes=("SEALBOX_",)),
    # The dynamic loader and the C library load code and read files named here (LD_PRELOAD, LD_AUDIT,
    # GLIBC_TUNABLES, GCONV_PATH), and resolve host names through files and options named here.
    EnvFamily(
        why="the dynamic loader and the C library load code and read files they name",
        prefixes=("LD_", "DYLD_", "GLIBC_", "MALLOC_", "GCONV", "GMON_", "LOCALE_", "NSS_"),
        names=("LD", "HOSTALIASES", "LOCALDOMAIN", "RES_OPTIONS", "RESOLV_HOST_CONF", "RESOLV_CONF", "TZ"),
    ),
    # Locale names and message catalogs are files the C library opens and parses.
    EnvFamily(
        why="locale settings choose files the C library reads", prefixes=("LC_",), names=("LANG", "LANGUAGE")
    ),
    # Shells run these: ENV and BASH_ENV are sourced, PS1-PS4 and PROMPT_COMMAND are expanded or run,
    # BASH_FUNC_* define functions, IFS changes how every command line splits, INPUTRC binds keys.
    EnvFamily(
        why="shells source, expand or run what these name",
        prefixes=("BASH", "PROMPT_", "ZSH_", "HIST", "TERMINFO"),
        names=(
            "ENV",
            "IFS",
            "PS1",
            "PS2",
            "PS3",
            "PS4",
            "SHELLOPTS",
            "BASHOPTS",
            "CDPATH",
            "INPUTRC",
            "TERM",
            "TERMCAP",
            "POSIXLY_CORRECT",
            "MAIL",
            "MAILCHECK",
        ),
    ),
    # Who and where the process is: programs find their configuration (and code) through these.
    EnvFamily(
        why="they say who the user is and where programs find their files",
        prefixes=("XDG_", "SUDO_", "DBUS_", "WAYLAND_"),
        names=("USER", "LOGNAME", "PWD", "OLDPWD", "TMP", "TEMP", "DISPLAY", "XAUTHORITY", "USERPROFILE"),
    ),
    # Search paths, homes, folders and files: each chooses where a program looks for code, settings or
    # credentials (PATH, CLASSPATH, NODE_PATH, JAVA_HOME, TMPDIR, JUPYTER_CONFIG_DIR, SSL_CERT_FILE,
    # AWS_CONFIG_FILE, KUBECONFIG, HISTFILE, NETRC, PHPRC), or writes to (SSLKEYLOGFILE).
    EnvFamily(
        why="they choose where programs find code, settings or credentials",
        suffixes=("PATH", "HOME", "DIR", "DIRS", "FILE", "FILES", "RC", "ROOT"),
        names=("KUBECONFIG", "GOOGLE_APPLICATION_CREDENTIALS", "AWS_PROFILE", "AWS_DEFAULT_PROFILE"),
    ),
    # Interpreters and runtimes read options, startup files and import hooks from these.
    EnvFamily(
        why="Python reads interpreter options and startup code from these", prefixes=("PYTHON", "__PY")
    ),
    EnvFamily(
        why="Python package and environment tools choose indexes, interpreters and code from these",
        prefixes=(
            "PIP_",
            "PIPX_",
            "PIPENV_",
            "POETRY_",
            "UV_",
            "PDM_",
            "HATCH_",
            "CONDA_",
            "MAMBA_",
            "PYENV_",
            "VIRTUALENV_",
            "SETUPTOOLS_",
            "DISTUTILS_",
            "PYTEST_",
            "COVERAGE_",
        ),
        names=("VIRTUAL_ENV",),
    ),
    EnvFamily(
        why="notebook and data tools load configuration, plugins and code from these",
        prefixes=(
            "JUPYTER",
            "JPY_",
            "IPYTHON",
            "MPL",
            "PYSPARK_",
            "SPARK_",
            "HADOOP_",
            "DASK_",
            "RAY_",
            "BOTO_",
        ),
        names=("HF_ENDPOINT", "HF_HUB_ENDPOINT"),
    ),
    EnvFamily(
        why="JavaScript runtimes and package managers read options, module paths and registries from these",
        prefixes=("NODE_", "NPM_CONFIG_", "YARN_", "BUN_", "DENO_", "COREPACK_"),
    ),
    EnvFamily(why="Perl reads options and module paths from these", prefixes=("PERL",)),
    EnvFamily(
        why="Ruby reads options, load paths and gem sources from these", prefixes=("RUBY", "GEM_", "BUNDLE_")
    ),
    EnvFamily(
        why="the JVM and its build tools read options and class paths from these",
        prefixes=("JAVA_", "JDK_", "_JAVA_", "MAVEN_", "GRADLE_", "SBT_", "ANT_", "CATALINA_"),
    ),
    EnvFamily(why="R reads library paths, profiles and startup code from these", prefixes=("R_",)),
    EnvFamily(why="Julia reads load paths and startup code from these", prefixes=("JULIA_",)),
    EnvFamily(why="Lua runs or loads code named here", prefixes=("LUA_",)),
    EnvFamily(
        why=".NET loads startup hooks and profilers named here", prefixes=("DOTNET_", "CORECLR_", "COREHOST_")
    ),
    EnvFamily(
        why="Rust's toolchain runs wrappers and reads registries from these",
        prefixes=("CARGO_", "RUSTC", "RUSTUP_"),
    ),
    EnvFamily(
        why="Go's toolchain downloads toolchains and modules from what these name",
        names=(
            "GOROOT",
            "GOBIN",
            "GOENV",
            "GOCACHE",
            "GOMODCACHE",
            "GOTOOLCHAIN",
            "GOSUMDB",
            "GONOSUMDB",
            "GONOSUMCHECK",
            "GOINSECURE",
            "GOPRIVATE",
            "GOEXPERIMENT",
            "GODEBUG",
        ),
    ),
    # Compilers and build systems: `pip install` of a source package runs $CC.
    EnvFamily(
        why="build tools run the compilers and read the flags these name",
        prefixes=("CMAKE_", "PKG_CONFIG", "CCACHE_", "MESON_"),
        names=(
            "CC",
            "CXX",
            "CPP",
            "AR",
            "AS",
            "FC",
            "F77",
            "F90",
            "NM",
            "RANLIB",
            "STRIP",
            "MAKE",
            "MAKELEVEL",
        ),
    ),
    # Options, flags, commands, wrappers, hooks and plug-ins of any tool: JAVA_TOOL_OPTIONS, PYTEST_ADDOPTS,
    # MAKEFLAGS, RUSTFLAGS, GIT_SSH_COMMAND, SSH_ASKPASS, RUSTC_WRAPPER, DOTNET_STARTUP_HOOKS, GTK_MODULES.
    EnvFamily(
        why="they pass options to a program, or name a command, plug-in or startup code it runs",
        suffixes=(
            "OPTS",
            "OPTIONS",
            "FLAGS",
            "COMMAND",
            "_CMD",
            "ASKPASS",
            "WRAPPER",
            "HOOK",
            "HOOKS",
            "PLUGIN",
            "PLUGINS",
            "MODULES",
            "PRELOAD",
            "STARTUP",
            "INIT",
            "_BIN",
            "_BINARY",
            "_EXE",
            "_EXECUTABLE",
            "_PYTHON",
            "SHELL",
            "_INTERPRETER",
        ),
        names=("MANOPT", "LESS", "LESSOPEN", "LESSCLOSE", "LESSKEY", "LESSSECURE", "EXINIT", "VIMINIT"),
    ),
    # Editors, pagers and browsers are programs that git, psql, man, pip and Jupyter start.
    EnvFamily(
        why="programs start the editor, pager or browser these name",
        suffixes=("EDITOR", "PAGER", "BROWSER"),
        names=("VISUAL", "TERMINAL"),
    ),
    # git, ssh and gpg: commands they run (GIT_SSH_COMMAND, GIT_EXEC_PATH), configuration they read
    # (GIT_CONFIG_*), the agent that signs for the user (SSH_AUTH_SOCK, GPG_AGENT_INFO).
    EnvFamily(
        why="git, ssh and gpg run commands, read configuration and pick agents from these",
        prefixes=("GIT_", "SSH_", "GPG_", "GNUPG", "KRB5"),
    ),
    # Where a client connects: proxies see (and can change) all of its traffic; a host, address or
    # endpoint override sends the grantee's other credentials to whoever chose it.
    EnvFamily(
        why="they choose where a client connects, with the user's other credentials",
        prefixes=(
            "AWS_ENDPOINT_URL",
            "AWS_CONTAINER_",
            "AWS_EC2_METADATA",
            "KUBERNETES_",
            "DOCKER_",
            "CONTAINERS_",
            "SOCKS",
        ),
        suffixes=(
            "PROXY",
            "HOST",
            "HOSTADDR",
            "ADDR",
            "ADDRESS",
            "ENDPOINT",
            "_BASE_URL",
            "_API_BASE",
            "_SERVER",
        ),
    ),
    # Whom a client trusts: CA bundles and certificate folders, TLS switches and the TLS libraries'
    # own settings (OPENSSL_CONF loads engines, that is code).
    EnvFamily(
        why="they choose whom a client trusts (certificates, TLS settings)",
        prefixes=("SSL", "OPENSSL_", "GNUTLS_", "CURL_", "PGSSL", "PGGSS", "PGREQUIRE", "WGET"),
        suffixes=("CA_BUNDLE", "CACERT", "CA_CERT", "CA_CERTS", "CACERTS", "CAINFO", "VERIFY", "INSECURE"),
    ),
)


def _ecma_upper_insensitive(literal: str) -> str:
    """A literal as an ECMAScript pattern that matches it in any letter case (no inline flags there)."""
    return "".join(f"[{c}{c.lower()}]" if c.isalpha() else c for c in literal)


def _pattern() -> str:
    prefixes = sorted({p for f in FAMILIES for p in f.prefixes})
    suffixes = sorted({s for f in FAMILIES for s in f.suffixes})
    names = sorted({n for f in FAMILIES for n in f.names})
    alt = "|".join
    return (
        f"^(?!(?:{alt(map(_ecma_upper_insensitive, prefixes))}))"
        f"(?!(?:{alt(map(_ecma_upper_insensitive, names))})$)"
        f"(?![A-Za-z0-9_]*(?:{alt(map(_ecma_upper_insensitive, suffixes))})$)"
        f"[A-Za-z_][A-Za-z0-9_]{{0,{MAX_ENV_NAME - 1}}}$"
    )


# The same rule as an ECMAScript regular expression, for the OpenAPI document (and generated clients).
ENV_NAME_PATTERN = _pattern()


def reserved_family(name: str) -> EnvFamily | None:
    """The family a syntactically valid name belongs to, or None when a mapping may set it."""
    upper = name.upper()
    for family in FAMILIES:
        if family.holds(upper):
            return family
    return None


def check_env_name(name: str) -> str:
    """Return `name` if a mapping may set it; else BadRequest(code=invalid_env) saying which family
    (the message comes from the table, never from the name)."""
    if not isinstance(name, str) or not _ENV_SYNTAX.fullmatch(name):
        raise BadRequest(
            "an environment variable name is letters, digits and '_', not starting with a digit",
            code="invalid_env",
            field="env",
        )
    family = reserved_family(name)
    if family is not None:
        raise BadRequest(
            f"that environment variable is reserved: {family.why}", code="invalid_env", field="env"
        )
    return name
