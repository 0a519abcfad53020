#!/usr/bin/env python3
"""tokenizer_parity.py - simcsepp's WordPiece tokenizer vs Hugging Face `tokenizers` (oracle).

Runs both over every line of shared/data/corpus/*, every sentence of shared/data/sts/** and the
10,570 SQuAD questions of shared/data/tokenizer_fixtures, uncased and cased, and asserts zero
mismatching id sequences (no [CLS]/[SEP]); then the same with [CLS] ... [SEP] and truncation to
max_len 32 (uncased). Also checks the uncased ids against the fixture's reference id lists where
the two Python tokenizers agree. Prints the first mismatches when it fails.
"""
import glob
import json
import os
import subprocess
import sys
import tempfile

from tokenizers import BertWordPieceTokenizer

DATA = os.environ.get("SIMCSEPP_SHARED_DATA", os.path.join(os.path.dirname(__file__), "../../../shared/data"))
BUILD = os.environ.get("SIMCSEPP_BUILD_DIR", os.path.join(os.path.dirname(__file__), "../../build"))
HELPER = os.path.join(BUILD, "bin", "data_tokenize_ids")
VOCAB = os.path.join(DATA, "vocab", "bert-base-uncased-vocab.txt")


def read_lines(path):
    # '\n' only, as the C++ side splits; invalid UTF-8 replaced (the tokenizer drops U+FFFD).
    with open(path, "rb") as f:
        text = f.read().decode("utf-8", errors="replace")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def collect_sentences():
    sentences = []
    for path in sorted(glob.glob(os.path.join(DATA, "corpus", "*"))):
        sentences += read_lines(path)
    sts = os.path.join(DATA, "sts")
    for path in sorted(glob.glob(os.path.join(sts, "STSBenchmark", "sts-*.csv"))):
        for line in read_lines(path):
            fields = line.split("\t")
            sentences += fields[5:7]
    for path in sorted(glob.glob(os.path.join(sts, "STS12-en-test", "STS.input.*.txt"))):
        for line in read_lines(path):
            sentences += line.split("\t")[:2]
    for path in sorted(glob.glob(os.path.join(sts, "SICK", "SICK_*.txt"))):
        for line in read_lines(path)[1:]:
            sentences += line.split("\t")[1:3]
    with open(os.path.join(DATA, "tokenizer_fixtures", "question_tokens.json"), encoding="utf-8") as f:
        questions = [q["original"] for q in json.load(f)]
    assert len(questions) == 10570, len(questions)
    # One sentence per line for the helper: a newline inside a sentence is whitespace to BERT.
    sentences = [s.replace("\n", " ") for s in sentences]
    questions = [q.replace("\n", " ") for q in questions]
    return sentences, questions


def run_helper(sentences, *flags):
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", newline="", suffix=".txt", delete=False) as f:
        f.write("\n".join(sentences) + "\n")
        path = f.name
    try:
        proc = subprocess.run([HELPER, VOCAB, path, *flags], capture_output=True, text=True)
    finally:
        os.unlink(path)
    if proc.returncode != 0:
        sys.exit(f"FAIL: helper exited {proc.returncode}: {proc.stderr}")
    rows = proc.stdout.split("\n")[:-1]
    assert len(rows) == len(sentences), (len(rows), len(sentences))
    return [[int(x) for x in r.split()] for r in rows]


def compare(name, sentences, expected, got, tok):
    bad = [i for i, (e, g) in enumerate(zip(expected, got)) if e != g]
    print(f"{name}: {len(sentences)} sentences, {len(bad)} mismatches")
    for i in bad[:10]:
        print(f"  #{i} {sentences[i]!r}\n    reference {[tok.id_to_token(t) for t in expected[i]]}\n"
              f"    simcsepp  {[tok.id_to_token(t) for t in got[i]]}")
    return len(bad)


def main():
    sentences, questions = collect_sentences()
    everything = sentences + questions
    failures = 0
    for lowercase in (True, False):
        tok = BertWordPieceTokenizer(VOCAB, lowercase=lowercase)
        expected = [e.ids for e in tok.encode_batch(everything, add_special_tokens=False)]
        got = run_helper(everything, *([] if lowercase else ["--cased"]))
        failures += compare(f"tokenize_ids {'uncased' if lowercase else 'cased'}", everything, expected, got, tok)
        if lowercase:
            uncased_got = got

    tok = BertWordPieceTokenizer(VOCAB, lowercase=True)
    tok.enable_truncation(max_length=32)
    expected = [e.ids for e in tok.encode_batch(everything)]
    got = run_helper(everything, "--max-len", "32")
    failures += compare("encode max_len=32", everything, expected, got, tok)

    # The fixture ids come from Google's Python BERT tokenizer; it differs from `tokenizers` only
    # in rare accent/lowercase orderings, so require near-total agreement, not identity.
    with open(os.path.join(DATA, "tokenizer_fixtures", "tokenized_questions.json"), encoding="utf-8") as f:
        fixture = json.load(f)
    q_got = uncased_got[len(sentences):]
    agree = sum(1 for a, b in zip(fixture, q_got) if list(a) == b)
    print(f"fixture ids: {agree}/{len(fixture)} questions identical")
    if agree < len(fixture) - 5:
        failures += 1
        print("FAIL: too many differences from the fixture's reference ids")

    if failures:
        sys.exit(f"FAIL: {failures} mismatches")
    print("PASS")


if __name__ == "__main__":
    main()
