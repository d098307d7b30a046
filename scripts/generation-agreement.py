"""The generation fixtures' rule, applied to any two references in the fixtures' format.

    python3 scripts/generation-agreement.py replay PORT SOURCE.json OUT.json LABEL
        replays SOURCE's prompts through a llama-server on PORT, writes its greedy steps to OUT
    python3 scripts/generation-agreement.py compare REF.json OTHER.json
        prints: largest top-5 log-probability difference, entries over 0.1 / compared, token
        failures before a near tie (the issue's rule: compare up to the reference's first step
        whose top two are within 0.05; a token that differs there ends the case)
"""
import json
import sys


def replay(port, source, out, label):
    import requests
    d = json.load(open(source))
    for c in d["cases"]:
        r = requests.post(f"http://127.0.0.1:{port}/completion", json={
            "prompt": c["prompt_tokens"], "n_predict": len(c["steps"]), "n_probs": 5, "temperature": 0, "cache_prompt": False}).json()
        c["steps"] = [{"token": p["id"], "logprob": p["logprob"], "top": [[t["id"], t["logprob"]] for t in p["top_logprobs"]]}
                      for p in r["completion_probabilities"]]
        c["completion_tokens"] = [s["token"] for s in c["steps"]]
    d["reference"] = label
    json.dump(d, open(out, "w"))


def compare(ref, other):
    worst, over, compared, failures = 0.0, 0, 0, 0
    for cr, co in zip(json.load(open(ref))["cases"], json.load(open(other))["cases"]):
        for sr, so in zip(cr["steps"], co["steps"]):
            theirs = {t: l for t, l in so["top"]}
            floor = min(theirs.values())
            for t, l in sr["top"]:
                # A reference top-5 token outside the other's top 5: at least this far apart.
                diff = abs(theirs[t] - l) if t in theirs else max(0.0, l - floor)
                worst, over, compared = max(worst, diff), over + (diff > 0.1), compared + 1
            if sr["top"][0][1] - sr["top"][1][1] < 0.05:
                break
            if sr["token"] != so["token"]:
                failures += 1
                break
    return worst, over, compared, failures


if __name__ == "__main__":
    if sys.argv[1] == "replay":
        replay(*sys.argv[2:6])
    else:
        w, o, c, f = compare(sys.argv[2], sys.argv[3])
        print(f"{w:.3f} {o} {c} {f}")
