#!/usr/bin/env bash
# install.unprivileged - the no-root install path of docs/build.md ("Installing without root
# (clusters)"), run by a real unprivileged account on this machine.
#
# As root it creates a throwaway user (useradd; removed at the end, whatever happens) with its
# home on a tmpfs, and copies this checkout (tracked + untracked files, no build dirs) into it. Then, AS THAT
# USER (runuser, a clean environment, no sudo; `apt-get`, `apt`, `dpkg`, `dpkg-query`, `sudo` and
# `su` on its PATH are shims that record any call and fail):
#   1. negative controls: `setup.sh --system` refuses (needs root) and names user mode; user mode
#      with HDF5 and Boost hidden from CMake (CMAKE_DISABLE_FIND_PACKAGE_*: what a node without
#      them looks like to the build) exits 1 naming both, their Debian packages and the module
#      hints, and creates no venv; the user cannot write /opt or root's wheelhouse;
#   2. `setup.sh` (user mode because not root): checks every tool and library (nlohmann-json from a
#      user prefix given only by CMAKE_PREFIX_PATH, as a module sets it), creates the user's
#      own venv in ~/.local/share/simcsepp-venv and pip-installs the same pins (torch 2.11.0 and its
#      CUDA wheels, 5 GB installed) OFFLINE from root's wheelhouse (/var/cache/simcsepp-wheelhouse,
#      filled by setup.sh in system mode), so no download per run;
#   3. `build.sh` with SIMCSEPP_TARGETS="install_smoke test_base": configures the WHOLE project
#      (every find_package of cmake/SimcseppDependencies.cmake, libtorch through the user's venv,
#      CUDA/NCCL probes, every test registration) and builds two targets: simcsepp_base +
#      test_base (GoogleTest) and install_smoke (libtorch + MPI + HDF5 + Boost.PO + simcsepp_base),
#      with ccache in the user's ~/.cache (root's /var/cache one is not writable); CMakeCache must
#      name the user's venv (SIMCSEPP_PYTHON, Torch_DIR) and the user prefix (nlohmann_json_DIR);
#   4. runs install_smoke under `mpirun -np 2` (torch sums allreduced, HDF5 round trip, checked in
#      the program) and checks libtorch was loaded from the user's venv; runs ctest -R '^base\.'.
# What it does NOT prove: that the rest of the project (model, trainer, the `simcsepp` binary)
# builds as this user - a full build takes ~30 min here; it configures, which checks that every
# dependency is found, but compiles only those targets; nor that the user-mode PyPI path (no
# wheelhouse) works - that downloads ~2.7 GB; nor module-provided (non-Debian) MPI/HDF5/Boost:
# this machine has only Debian's, found through the same CMake variables a module would set.
set -euo pipefail
name=install.unprivileged
say() { echo "[$name] $*"; }
fail() { echo "[$name] FAIL: $*" >&2; exit 1; }

src=${SIMCSEPP_SOURCE_DIR:?SIMCSEPP_SOURCE_DIR (the checkout) is set by ctest}
[ "$(id -u)" -eq 0 ] || fail "needs root to create a throwaway user (CI runs as root); you are $(id -un)"
for t in useradd userdel runuser tar; do
  command -v "$t" >/dev/null || fail "$t not found. HINT: bash scripts/setup.sh (Debian passwd, util-linux, tar)"
done
wheelhouse=/var/cache/simcsepp-wheelhouse
[ -r "$wheelhouse/.simcsepp-pins" ] ||
  fail "no wheelhouse at $wheelhouse (the user's venv installs from it offline). HINT: bash scripts/setup.sh as root fills it"

tmp=$(mktemp -d /tmp/simcsepp-install.XXXXXX)
user=simcsepp-it-$$
home=$tmp/home
on_tmpfs=0
cleanup() {
  # Processes this test started as the user (an orted left by a failed mpirun), by id.
  local pids
  pids=$(ps -o pid= -u "$user" 2>/dev/null || true)
  # shellcheck disable=SC2086 # one pid per word
  [ -z "$pids" ] || kill -KILL $pids 2>/dev/null || true
  if id -u "$user" >/dev/null 2>&1; then userdel "$user" || say "warning: userdel $user failed"; fi
  cd /
  if [ "$on_tmpfs" = 1 ]; then umount "$tmp" || say "warning: umount $tmp failed"; fi
  rm -rf "$tmp"
  say "cleanup (userdel, the home and its venv removed) done at ${SECONDS} s"
}
trap cleanup EXIT
# The user's home (5.1 GB venv) on a tmpfs: on this machine's disk, removing it at the end took
# 118 s (pip's 5 GB still being written back); from RAM it is instant. The disk if mount fails.
if mount -t tmpfs -o size=10g,mode=755 simcsepp-install "$tmp" 2>/dev/null; then
  on_tmpfs=1
else
  say "no tmpfs could be mounted on $tmp: the home is on the disk (removing it can take minutes)"
fi
chmod 755 "$tmp"
useradd --create-home --home-dir "$home" --shell /bin/bash --user-group "$user"
say "user $user (uid $(id -u "$user")), home $home"

# The checkout as it is (tracked + untracked, not ignored: no build dirs), owned by the user.
mkdir -p "$home/simcsepp"
if git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
  (cd "$src" && git ls-files -z -co --exclude-standard | tar --null --ignore-failed-read -T - -cf -) |
    tar -xf - -C "$home/simcsepp"
else
  tar -C "$src" --exclude='./build*' --exclude=./.git -cf - . | tar -xf - -C "$home/simcsepp"
fi
mkdir -p "$home/tmp" "$tmp/shims"
chown -R "$user:$user" "$home"

# Shims: any call to a package manager or privilege tool is recorded and fails.
forbidden=$tmp/forbidden.log
: > "$forbidden"
chmod 666 "$forbidden"
for t in apt-get apt dpkg dpkg-query sudo su; do
  printf '#!/bin/sh\necho "%s $*" >> %s\nexit 1\n' "$t" "$forbidden" > "$tmp/shims/$t"
  chmod 755 "$tmp/shims/$t"
done
as_user() {
  runuser -u "$user" -- env -i HOME="$home" USER="$user" LOGNAME="$user" LANG=C.UTF-8 \
    TMPDIR="$home/tmp" PATH="$tmp/shims:/usr/local/bin:/usr/bin:/bin" "$@"
}
venv=$home/.local/share/simcsepp-venv
cd "$tmp"

say "copy of the checkout done at ${SECONDS} s"

# --- 1. negative controls ---------------------------------------------------------------------
[ "$(as_user id -u)" != 0 ] || fail "the user is root"
for p in /opt "$wheelhouse"; do
  if as_user touch "$p/.simcsepp-install-probe" 2>/dev/null; then
    rm -f "$p/.simcsepp-install-probe"; fail "the user can write $p: not an unprivileged account"
  fi
done
set +e
as_user bash -c "cd $home/simcsepp && bash scripts/setup.sh --system" > "$tmp/system.out" 2>&1
rc=$?
set -e
cat "$tmp/system.out"
[ "$rc" = 1 ] || fail "setup.sh --system as $user: rc $rc, expected 1"
head -1 "$tmp/system.out" | grep -q '^\[setup\] mode: system' || fail "setup.sh's first line does not say mode: system"
grep -q 'system mode needs root' "$tmp/system.out" || fail "setup.sh --system did not say it needs root"
grep -q 'setup.sh --user' "$tmp/system.out" || fail "setup.sh --system did not point to user mode"

set +e
as_user bash -c "cd $home/simcsepp && SIMCSEPP_CMAKE_ARGS='-DCMAKE_DISABLE_FIND_PACKAGE_HDF5=ON -DCMAKE_DISABLE_FIND_PACKAGE_Boost=ON' bash scripts/setup.sh" > "$tmp/missing.out" 2>&1
rc=$?
set -e
cat "$tmp/missing.out"
[ "$rc" = 1 ] || fail "user mode with HDF5 and Boost hidden: rc $rc, expected 1"
head -1 "$tmp/missing.out" | grep -q '^\[setup\] mode: user' || fail "setup.sh's first line does not say mode: user"
for want in 'MISSING 2 required' 'HDF5 C library' 'libhdf5-dev' 'module load hdf5' \
            'Boost.Program_options' 'libboost-program-options-dev' 'module load boost'; do
  grep -qF "$want" "$tmp/missing.out" || fail "user mode with HDF5 and Boost hidden did not print '$want'"
done
[ ! -e "$venv" ] || fail "user mode created $venv although dependencies were missing"

say "negative controls done at ${SECONDS} s"

# --- 2. setup.sh, user mode -------------------------------------------------------------------
# A library in a prefix of the user's own, given only through CMAKE_PREFIX_PATH (as `module load`
# or Spack would): a copy of Debian's header-only nlohmann-json, whose CMake config is relocatable.
# CMAKE_PREFIX_PATH is searched before the system, so both the check and the build must find this one.
njson=$home/opt/nlohmann-json
{ [ -f /usr/share/cmake/nlohmann_json/nlohmann_jsonConfig.cmake ] && [ -d /usr/include/nlohmann ]; } ||
  fail "Debian's nlohmann-json3-dev (copied into the user prefix) is missing. HINT: bash scripts/setup.sh"
as_user mkdir -p "$njson/include" "$njson/share/cmake"
as_user cp -r /usr/include/nlohmann "$njson/include/"
as_user cp -r /usr/share/cmake/nlohmann_json "$njson/share/cmake/"
t0=$SECONDS
as_user bash -c "cd $home/simcsepp && CMAKE_PREFIX_PATH=$njson bash scripts/setup.sh" 2>&1 | tee "$tmp/setup.out"
[ "${PIPESTATUS[0]}" = 0 ] || fail "setup.sh in user mode failed (above)"
t_setup=$((SECONDS - t0))
head -1 "$tmp/setup.out" | grep -q '^\[setup\] mode: user' || fail "setup.sh's first line does not say mode: user"
grep -qF "(offline, from the wheelhouse $wheelhouse)" "$tmp/setup.out" ||
  fail "the user's venv was not installed offline from $wheelhouse"
grep -q "^\[setup\] nlohmann-json [0-9.]*: $njson/share/cmake/nlohmann_json\$" "$tmp/setup.out" ||
  fail "setup.sh's check did not find nlohmann-json in the CMAKE_PREFIX_PATH prefix $njson"
torch_file=$(as_user "$venv/bin/python" -c 'import torch; print(torch.__file__)')
case $torch_file in "$venv"/*) ;; *) fail "the user's venv imports torch from $torch_file, not from $venv" ;; esac
[ "$(stat -c %U "$torch_file")" = "$user" ] || fail "$torch_file is not the user's own file"

# --- 3. build.sh: configure everything, build two targets --------------------------------------
t0=$SECONDS
as_user bash -c "cd $home/simcsepp && CMAKE_PREFIX_PATH=$njson SIMCSEPP_TARGETS='install_smoke test_base' bash scripts/build.sh" \
  > "$tmp/build.out" 2>&1 || { tail -50 "$tmp/build.out"; fail "build.sh as $user failed (log tail above)"; }
t_build=$((SECONDS - t0))
grep -E '^\[build\]|simcsepp:|Linking' "$tmp/build.out"
grep -qF "[build] mode: user; venv $venv; ccache $home/.cache/simcsepp-ccache" "$tmp/build.out" ||
  fail "build.sh did not pick the user's venv and ccache (first [build] line above)"
cache=$home/simcsepp/build/CMakeCache.txt
grep -qx "SIMCSEPP_PYTHON:FILEPATH=$venv/bin/python" "$cache" || fail "CMake's SIMCSEPP_PYTHON is not $venv/bin/python"
grep -q "^Torch_DIR:PATH=$venv/" "$cache" || fail "CMake's Torch_DIR is not in $venv: $(grep ^Torch_DIR "$cache")"
grep -qx "nlohmann_json_DIR:PATH=$njson/share/cmake/nlohmann_json" "$cache" ||
  fail "the build did not take nlohmann-json from the CMAKE_PREFIX_PATH prefix: $(grep ^nlohmann_json_DIR "$cache")"

# --- 4. run what was built ----------------------------------------------------------------------
t0=$SECONDS
as_user bash -c "cd $home && mpirun -np 2 --oversubscribe --bind-to none --mca btl self,vader,tcp \
  --mca btl_vader_single_copy_mechanism none simcsepp/build/bin/install_smoke --out $home/smoke.h5" \
  2>&1 | tee "$tmp/smoke.out"
[ "${PIPESTATUS[0]}" = 0 ] || fail "install_smoke under mpirun -np 2 as $user failed (above)"
grep -q '^install_smoke: ok: 2 ranks' "$tmp/smoke.out" || fail "install_smoke did not report ok on 2 ranks"
grep -q "^install_smoke: libtorch 2.11.0 $venv/lib/python3[.0-9]*/site-packages/torch/lib/libtorch_cpu.so" "$tmp/smoke.out" ||
  fail "install_smoke did not load libtorch_cpu.so from the user's venv $venv"
as_user bash -c "cd $home/simcsepp && ctest --test-dir build -R '^base\.' --no-tests=error --output-on-failure" ||
  fail "ctest -R '^base\\.' as $user failed"
t_run=$((SECONDS - t0))

if [ -s "$forbidden" ]; then
  cat "$forbidden" >&2
  fail "setup.sh/build.sh in user mode called a package manager or privilege tool (above)"
fi
say "passed at ${SECONDS} s: setup.sh user mode ${t_setup} s (venv from the wheelhouse), build.sh (configure all + 2 targets) ${t_build} s, runs ${t_run} s; no apt-get/dpkg/sudo/su called"
