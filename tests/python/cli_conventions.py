"""The command-line conventions of README "Outputs" and base/exit_codes.h, through the real
binary: exit 2 for no command or an unknown command (usage printed), exit 3 for an internal error
(a bug: "internal error" on stderr), --help (top level and per command, exit 0, no required
option needed), and --config: the file's values are used and the command line wins over them."""
import os
import shutil
import tempfile

from tiny_train_fixture import Checks, make_model, prep_corpus, records, run, sts_dev, wiki_lines

check = Checks()
COMMANDS = ["prep", "train", "eval", "embed", "export", "report", "inspect"]


def main():
    # Exit 2: usage errors.
    r = run([])
    check(r.returncode == 2 and "usage: simcsepp <command>" in r.stdout and all(c in r.stdout for c in COMMANDS),
          f"no command: exit 2 with the usage listing every command (rc {r.returncode})")
    r = run(["frobnicate"])
    check(r.returncode == 2 and "unknown command 'frobnicate'" in r.stderr and "usage:" in r.stdout,
          f"unknown command: exit 2, named, usage printed (rc {r.returncode}): {r.stderr.strip()[:120]}")
    # An unknown option of a known command is bad input (exit 1), not a usage error of the tool.
    r = run(["train", "--frobnicate", "1"])
    check(r.returncode == 1 and "frobnicate" in r.stderr, f"unknown option: exit 1 naming it (rc {r.returncode})")

    # Exit 3: the path a bug takes (a non-simcsepp exception), reached through the test hook.
    r = run(["inspect", "--help"], env={"SIMCSEPP_TEST_INTERNAL_ERROR": "inspect"})
    check(r.returncode == 3 and "simcsepp inspect: internal error" in r.stderr,
          f"internal error: exit 3 (rc {r.returncode}): {r.stderr.strip()[:160]}")
    r = run(["inspect", "--help"], env={"SIMCSEPP_TEST_INTERNAL_ERROR": "train"})
    check(r.returncode == 0, "the hook fires only for the command it names")

    # --help.
    for top in (["--help"], ["-h"], ["help"]):
        r = run(top)
        check(r.returncode == 0 and all(c in r.stdout for c in COMMANDS), f"{' '.join(top)}: exit 0, every command")
    for c in COMMANDS:
        r = run([c, "--help"])
        check(r.returncode == 0 and f"usage: simcsepp {c}" in r.stdout and "--config" in r.stdout,
              f"{c} --help: exit 0 with its options (rc {r.returncode})")
    r = run(["train", "--help"])
    check(all(o in r.stdout for o in ("--grad-accum", "--epochs", "--resume", "--keep-checkpoints")),
          "train --help lists --grad-accum, --epochs, --resume, --keep-checkpoints")
    r = run(["--version"])
    check(r.returncode == 0 and r.stdout.startswith("simcsepp "), "--version: exit 0")

    # --config: used, and the command line wins.
    tmp = tempfile.mkdtemp(prefix="simcsepp_cli_conventions_")
    try:
        model = make_model(os.path.join(tmp, "model"))
        corpus = prep_corpus(tmp, "corpus", wiki_lines(96))
        cfg = os.path.join(tmp, "run.ini")
        with open(cfg, "w") as f:
            f.write(f"# every option of the run; the tests override some on the command line\n"
                    f"model = {model}\ncorpus = {corpus}\nsts-dev = {sts_dev(tmp)}\n"
                    "[train]\nbatch-size = 8\nmax-steps = 3\nlr = -1\ndevice = cpu\ncomm = single\n"
                    "metrics-port = 0\neval-every = 0\n"
                    "train.no-eval-at-start = true\ntrain.no-export = true\n"
                    "[prep]\nmax-len = 7\n")
        d = os.path.join(tmp, "bad_lr")
        r = run(["train", "--config", cfg, "--run-dir", d])
        check(r.returncode == 1 and "--lr" in r.stderr, f"the file's lr = -1 is used and refused (rc {r.returncode})")
        d = os.path.join(tmp, "from_file")
        r = run(["train", "--config", cfg, "--run-dir", d, "--lr", "1e-4"])
        steps = [x["step"] for x in records(d, "step")] if r.returncode == 0 else []
        check(r.returncode == 0 and steps == [1, 2, 3], f"max-steps = 3 from the file: steps {steps}" + ("" if r.returncode == 0 else r.stderr[-300:]))
        d = os.path.join(tmp, "cli_wins")
        r = run(["train", "--config", cfg, "--run-dir", d, "--lr", "1e-4", "--max-steps", "2", "--batch-size", "4"])
        conf = records(d, "config") if r.returncode == 0 else []
        steps = [x["step"] for x in records(d, "step")] if r.returncode == 0 else []
        seen = {k: conf[0].get(k) for k in ("batch_size", "lr", "max_steps", "device")} if conf else None
        check(steps == [1, 2] and seen == {"batch_size": 4, "lr": 1e-4, "max_steps": 2, "device": "cpu"},
              f"--max-steps 2 --batch-size 4 --lr 1e-4 on the command line win, device from the file: "
              f"steps {steps}, run config {seen}")
        check(not os.path.isdir(os.path.join(d, "model")), "train.no-export = true (dotted key) is used")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    check.exit("CLI convention")


if __name__ == "__main__":
    main()
