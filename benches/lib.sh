# Shared by the scripts in benches/ (source it from the repo's root).

# plain_hello_bundle DIR RUNTIME [JQ]: the bundle `RUNTIME spec` writes, in
# DIR, running the static examples/hello/hello without a terminal; JQ, if
# given, edits the spec further.
plain_hello_bundle() {
    local dir=$1 rt=$2 extra=${3:-.}
    mkdir -p "$dir/rootfs"
    cp examples/hello/hello "$dir/rootfs/hello"
    "$rt" spec --bundle "$dir"
    jq '.process.args = ["/hello"] | .process.terminal = false' "$dir/config.json" |
        jq "$extra" >"$dir/c.json"
    mv "$dir/c.json" "$dir/config.json"
}
