# Sourced by the examples' build scripts (examples/compose/build-postgres.sh,
# examples/wasm-from-source/build.sh): makes the Debian 12 base image
# wharf-debian:bookworm-minbase from nothing but the Debian mirror:
#   1. a minimal Debian 12 root filesystem: debootstrap --variant=minbase
#      bookworm, packed as a tarball and cached (debootstrap takes about a
#      minute; the cache makes later runs skip it)
#   2. `wharf import` of that tarball
# Each step is skipped when its result exists (the image unless asked to
# import again, the cached tarball).
#
# Defines debian_base_image NAME [--reimport]: prints progress as "NAME: ...".
# Environment: WHARF (the wharf binary, default `wharf` on PATH), WHARF_ROOT
# (the store, as for wharf), DEBIAN_MIRROR (default http://deb.debian.org/debian),
# WHARF_DEMO_CACHE (default ${XDG_CACHE_HOME:-~/.cache}/wharf-demo).
# Needs root for debootstrap; installs debootstrap and zstd with apt if missing.
# Sets DEBIAN_BASE_IMAGE to the image's name.

WHARF=${WHARF:-wharf}
DEBIAN_BASE_IMAGE=wharf-debian:bookworm-minbase

seconds_since() { awk -v s="$1" -v e="$(date +%s%N)" 'BEGIN { printf "%.1f", (e - s) / 1e9 }'; }
has_image() { "$WHARF" inspect --type image "$1" >/dev/null 2>&1; }

debian_base_image() {
    local who=$1 reimport=false
    [[ ${2:-} == --reimport ]] && reimport=true
    local mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
    local suite=bookworm
    local cache=${WHARF_DEMO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/wharf-demo}
    local start

    # The cache key names everything the tarball is made from, so a change of
    # any of them makes a new one instead of reusing a stale one.
    local arch key tarball
    arch=$(dpkg --print-architecture)
    key=$(printf '%s\n' "debootstrap --variant=minbase --arch=$arch $suite $mirror" \
        "exclude dev proc sys apt-lists debs; sources: $suite $suite-updates $suite-security; v1" |
        sha256sum | cut -c1-12)
    tarball="$cache/debian-$suite-minbase-$arch-$key.tar.zst"

    if ! $reimport && has_image "$DEBIAN_BASE_IMAGE"; then
        return 0
    fi

    local need_tools=()
    command -v zstd >/dev/null || need_tools+=(zstd)
    if [[ ! -f $tarball ]]; then
        command -v debootstrap >/dev/null || need_tools+=(debootstrap)
    fi
    if ((${#need_tools[@]})); then
        echo "$who: installing ${need_tools[*]} (apt)"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_tools[@]}" >/dev/null
    fi

    if [[ -f $tarball ]]; then
        echo "$who: base rootfs from the cache: $tarball"
    else
        if ((EUID != 0)); then
            echo "$who: debootstrap needs root; run as root (or put the tarball at $tarball)" >&2
            return 1
        fi
        mkdir -p "$cache"
        # Globals, not locals: the EXIT trap runs after this function returns
        # when the script dies inside it.
        _debian_base_rootfs=$(mktemp -d "$cache/rootfs.XXXXXX")
        _debian_base_tarball=$tarball
        trap _debian_base_cleanup EXIT
        echo "$who: debootstrap --variant=minbase $suite (about a minute)"
        start=$(date +%s%N)
        local rootfs=$_debian_base_rootfs log="$_debian_base_rootfs.log"
        if ! debootstrap --variant=minbase --arch="$arch" "$suite" "$rootfs" "$mirror" >"$log" 2>&1; then
            echo "$who: debootstrap failed; its log:" >&2
            tail -n 30 "$log" >&2
            rm -f "$log"
            return 1
        fi
        rm -f "$log"
        # Updates and security fixes too: apt in an image build installs the
        # current point releases.
        cat >"$rootfs/etc/apt/sources.list" <<SOURCES
deb $mirror $suite main
deb $mirror $suite-updates main
deb ${mirror%/debian}/debian-security $suite-security main
SOURCES
        echo "$who: debootstrap took $(seconds_since "$start") s ($(du -sh --one-file-system "$rootfs" | cut -f1))"
        start=$(date +%s%N)
        # Device nodes are left out: an image layer may not hold them (a
        # container gets its /dev at run time); /proc and /sys stay as empty
        # mount points; package lists and downloaded .debs are not the rootfs.
        tar --numeric-owner --one-file-system -C "$rootfs" \
            --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' \
            --exclude='./var/lib/apt/lists/*' --exclude='./var/cache/apt/archives/*.deb' \
            -cf - . | zstd -q -T0 -3 -o "$tarball.tmp"
        mv -f "$tarball.tmp" "$tarball"
        echo "$who: packed $(du -h "$tarball" | cut -f1) in $(seconds_since "$start") s: $tarball"
        _debian_base_cleanup
        trap - EXIT
    fi

    start=$(date +%s%N)
    # docker import's way: the tarball is the whole filesystem; the config
    # is what the changes say (a Debian PATH, a shell to run).
    "$WHARF" import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8' \
        --change 'CMD ["/bin/bash"]' \
        --message "debootstrap --variant=minbase $suite $mirror" \
        "$tarball" "$DEBIAN_BASE_IMAGE" >/dev/null
    echo "$who: imported $DEBIAN_BASE_IMAGE in $(seconds_since "$start") s"
}

# debootstrap mounts /proc, /sys (and in a container binds /dev) inside the
# target while it works: unmount whatever it left before removing anything,
# and never cross into another filesystem while removing.
_debian_base_cleanup() {
    local rootfs=${_debian_base_rootfs:-}
    if [[ -n $rootfs && -d $rootfs ]]; then
        { grep -o " $rootfs/[^ ]*" /proc/mounts || true; } | sort -r | while read -r m; do
            umount -l "$m" 2>/dev/null || true
        done
        rm -rf --one-file-system "$rootfs"
    fi
    rm -f "$rootfs.log"
    [[ -n ${_debian_base_tarball:-} ]] && rm -f "$_debian_base_tarball.tmp"
    return 0
}
