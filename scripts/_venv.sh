# Sourced by start.sh and test.sh: a project virtualenv in .venv, reinstalled when a requirements file changes.
ensure_venv() {
    local requirements="$1"
    if ! python3 -c "import venv, ensurepip" >/dev/null 2>&1; then
        echo "Installing python3-venv (Debian) ..."
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
    fi
    [ -x .venv/bin/python ] || python3 -m venv .venv
    local stamp=".venv/.installed-$(cat requirements*.txt | sha1sum | cut -c1-12)-$(basename "$requirements")"
    if [ ! -f "$stamp" ]; then
        echo "Installing Python packages from $requirements into .venv ..."
        .venv/bin/python -m pip install -q --upgrade pip
        .venv/bin/python -m pip install -q -r "$requirements"
        touch "$stamp"
    fi
}

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}
