"""`simcsepp eval` and `simcsepp embed` on bad input: exit code 1 and a message naming the file and
line (or the option) with a HINT; nothing is scored from a malformed file and no --output file is written."""
import os
import subprocess
import sys
import tempfile

from eval_common import BIN, make_tiny_model

GOOD_STSB = "main-captions\tMSRvid\t2012test\t0001\t5.000\ta man is dancing .\ta man dances .\n"


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", newline="") as f:
        f.write(text)


def expect_error(args, needles, failures, label):
    """exit 1, every needle and a HINT on stderr, and the --output file (if any) never created."""
    output = args[args.index("--output") + 1] if "--output" in args else None
    if output and os.path.exists(output):
        os.remove(output)  # a stale file from an earlier case would hide a write
    run = subprocess.run([BIN, *args], capture_output=True, text=True)
    msg = run.stderr
    wrote = output is not None and os.path.exists(output)
    ok = run.returncode == 1 and all(n in msg for n in needles) and "HINT" in msg.upper() and not wrote
    print(f"  {label:45s} exit {run.returncode} {'ok' if ok else 'WRONG'}: {msg.strip()[:200]}")
    if not ok:
        failures.append(f"{label}: exit {run.returncode}, stderr {msg!r}, wanted {needles}"
                        + (f"; {output} was written" if wrote else ""))


def main():
    failures = []
    with tempfile.TemporaryDirectory() as work:
        model = os.path.join(work, "model")
        make_tiny_model(model)

        def eval_args(root, task):
            return ["eval", "--model", model, "--senteval-data", root, "--tasks", task, "--device", "cpu",
                    "--output", os.path.join(work, "out.json")]

        # 1. gold file with a different line count than its input file
        root = os.path.join(work, "a")
        sts12 = os.path.join(root, "STS", "STS12-en-test")
        for s in ["MSRpar", "MSRvid", "SMTeuroparl", "surprise.OnWN", "surprise.SMTnews"]:
            write(f"{sts12}/STS.input.{s}.txt", "a b\tc d\ne f\tg h\n")
            write(f"{sts12}/STS.gs.{s}.txt", "1.0\n2.0\n" + ("3.0\n" if s == "MSRvid" else ""))
        expect_error(eval_args(root, "STS12"), ["STS.input.MSRvid.txt", "STS.gs.MSRvid.txt", "2 lines", "has 3"],
                     failures, "gold/input line-count mismatch")

        # 2. non-numeric score (STS-B test, line 2)
        root = os.path.join(work, "b")
        write(f"{root}/STS/STSBenchmark/sts-test.csv", GOOD_STSB + GOOD_STSB.replace("5.000", "high"))
        expect_error(eval_args(root, "STS-B"), ["sts-test.csv:2", "'high'"], failures, "non-numeric STS-B score")

        # 3. missing column (SICK test, line 3 = second data row)
        root = os.path.join(work, "c")
        write(f"{root}/SICK/SICK_test_annotated.txt",
              "pair_ID\tsentence_A\tsentence_B\trelatedness_score\tentailment_judgment\r\n"
              "1\tA dog runs\tA dog is running\t4.5\tENTAILMENT\r\n2\tA cat sleeps\tA cat is sleeping\r\n")
        expect_error(eval_args(root, "SICK-R"), ["SICK_test_annotated.txt:3", "at least 4"], failures,
                     "missing SICK column")

        # 4. options
        expect_error(eval_args(root, "STS17"), ["STS17", "--tasks"], failures, "unknown task")
        expect_error(eval_args(os.path.join(work, "nope"), "STS12"), ["--senteval-data"], failures,
                     "no such SentEval folder")
        expect_error(["eval", "--model", model, "--senteval-data", root, "--pooler", "max"], ["max"], failures,
                     "unknown pooler")
        sentences = os.path.join(work, "s.txt")
        write(sentences, "one\ntwo\n")
        expect_error(["embed", "--model", model, "--input", sentences, "--output", os.path.join(work, "e.csv"),
                      "--device", "cpu"], ["e.csv", ".npy"], failures, "embed: unknown output format")
        expect_error(["embed", "--model", os.path.join(work, "nomodel"), "--input", sentences, "--output",
                      os.path.join(work, "e.npy"), "--device", "cpu"], ["nomodel"], failures, "embed: no model")
        expect_error(["embed", "--model", model, "--input", os.path.join(work, "missing.txt"), "--output",
                      os.path.join(work, "e.npy"), "--device", "cpu"], ["missing.txt"], failures, "embed: no input")
    if failures:
        sys.exit("FAIL:\n" + "\n".join(failures))
    print("PASS: every bad input gave exit 1 with file/line and a HINT, and wrote no --output")


if __name__ == "__main__":
    main()
