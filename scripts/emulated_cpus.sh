#!/usr/bin/env bash
# The edge runtime on the CPUs edge users have, emulated with QEMU user mode (issue 23):
#   haswell     x86-64 with AVX2 and no AVX-512 or VNNI (qemu-x86_64 -cpu Haswell, the host's Python)
#   cortex-a72  aarch64 without dot product, the Raspberry Pi 4 (qemu-aarch64 -cpu cortex-a72, an arm64
#               Debian bookworm root from debootstrap's .debs unpacked with dpkg -x, and the manylinux
#               aarch64 wheels of the host's onnxruntime, numpy, soundfile, soxr, flashlight-text, jiwer)
#
#   scripts/emulated_cpus.sh setup [CPU...]     # default: both; idempotent; needs Debian, root and PyPI
#   scripts/emulated_cpus.sh check CPU          # exit 0 when CPU is set up
#   scripts/emulated_cpus.sh run CPU ARGS...    # python ARGS on CPU, this checkout importable
#
# The arm64 root (about 380 MB: Debian 224 MB, wheels 156 MB) lives in $SPEECHLSTM_EMULATION (default ~/.cache/speechlstm-emulation).
# Emulation is slow: the acoustic model runs 40 to 70 times slower than natively.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cache="${SPEECHLSTM_EMULATION:-${XDG_CACHE_HOME:-$HOME/.cache}/speechlstm-emulation}"
arm="$cache/arm64"
host_python="$(python3 -c 'import sys; print(sys.executable)')"
# Haswell minus the features TCG cannot emulate (they only concern the kernel; leaving them in prints warnings)
haswell="Haswell,-pcid,-x2apic,-tsc-deadline,-hle,-rtm,-invpcid"
cpus=(haswell cortex-a72)

die() { echo "emulated_cpus.sh: $*" >&2; exit 1; }

apt_install() {
    local missing=() as_root=()
    for package in "$@"; do dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package"); done
    [ ${#missing[@]} -eq 0 ] && return
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || die "installing ${missing[*]} needs root (or sudo)"
        as_root=(sudo)
    fi
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# A Raspberry Pi 4's /proc/cpuinfo (4 x Cortex-A72, no crypto extensions). QEMU 7 passes the host's
# x86 /proc/cpuinfo through, on which onnxruntime's cpuinfo crashes at import; -L serves this one instead.
a72_cpuinfo() {
    for processor in 0 1 2 3; do
        printf 'processor\t: %s\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\n' "$processor"
        printf 'CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\nCPU revision\t: 3\n\n'
    done
}

# The host's version of each package, so both sides run the same code.
pinned() {
    "$host_python" - "$@" <<'EOF'
import sys
from importlib.metadata import version
print(" ".join(f"{name}=={version(name)}" for name in sys.argv[1:]))
EOF
}

setup_arm() {
    apt_install qemu-user debootstrap
    if [ ! -x "$arm/root/usr/bin/python3.11" ]; then
        rm -rf "$arm/root"
        debootstrap --arch=arm64 --variant=minbase --download-only \
            --include=python3.11-minimal,libpython3.11-stdlib bookworm "$arm/root" http://deb.debian.org/debian >/dev/null
        for deb in "$arm"/root/var/cache/apt/archives/*.deb; do dpkg -x "$deb" "$arm/root"; done
        rm -f "$arm"/root/var/cache/apt/archives/*.deb
    fi
    mkdir -p "$arm/root/proc"
    a72_cpuinfo > "$arm/root/proc/cpuinfo"
    local wanted
    wanted="$(pinned onnxruntime numpy soundfile soxr flashlight-text jiwer)"
    if [ "$(cat "$arm/site.txt" 2>/dev/null)" != "$wanted" ]; then
        rm -rf "$arm/site"
        # shellcheck disable=SC2086  # one argument per requirement
        python3 -m pip install -q --target "$arm/site" --only-binary=:all: --implementation cp --python-version 3.11 \
            --platform manylinux_2_28_aarch64 --platform manylinux_2_27_aarch64 --platform manylinux_2_26_aarch64 \
            --platform manylinux_2_17_aarch64 --platform manylinux2014_aarch64 $wanted
        echo "$wanted" > "$arm/site.txt"
    fi
}

run() {
    local cpu="$1"; shift
    case "$cpu" in
        haswell) PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}" exec qemu-x86_64 -cpu "$haswell" "$host_python" "$@" ;;
        cortex-a72)
            PYTHONPATH="$arm/site:$repo" PYTHONNOUSERSITE=1 \
                exec qemu-aarch64 -cpu cortex-a72 -L "$arm/root" "$arm/root/usr/bin/python3.11" "$@" ;;
        *) die "unknown CPU $cpu (one of ${cpus[*]})" ;;
    esac
}

check() {
    case "$1" in
        haswell) command -v qemu-x86_64 >/dev/null || die "qemu-x86_64 missing (scripts/emulated_cpus.sh setup haswell)" ;;
        cortex-a72)
            command -v qemu-aarch64 >/dev/null || die "qemu-aarch64 missing (scripts/emulated_cpus.sh setup cortex-a72)"
            [ -f "$arm/site.txt" ] || die "no arm64 root in $arm (scripts/emulated_cpus.sh setup cortex-a72)" ;;
        *) die "unknown CPU $1 (one of ${cpus[*]})" ;;
    esac
    (run "$1" -c 'import onnxruntime') || die "$1: python cannot import onnxruntime under emulation"
    # QEMU before 7.2 emulates no AVX2, and the x86 kernels tested would then be SSE ones
    [ "$1" != haswell ] || [ "$(run haswell -c 'from speechlstm.backends.cpu import cpu_features; print(cpu_features())')" = "x86_64: AVX2" ] \
        || die "haswell: this QEMU does not emulate AVX2 (QEMU 7.2 or later does)"
}

command="${1:-}"
[ $# -gt 0 ] && shift
case "$command" in
    setup)
        [ $# -gt 0 ] || set -- "${cpus[@]}"
        for cpu in "$@"; do
            case "$cpu" in
                haswell) apt_install qemu-user ;;
                cortex-a72) setup_arm ;;
                *) die "unknown CPU $cpu (one of ${cpus[*]})" ;;
            esac
        done ;;
    check) [ $# -eq 1 ] || die "usage: check CPU"; check "$1" ;;
    run) [ $# -ge 1 ] || die "usage: run CPU ARGS..."; run "$@" ;;
    *) die "usage: $0 setup [CPU...] | check CPU | run CPU ARGS... (CPU: ${cpus[*]})" ;;
esac
