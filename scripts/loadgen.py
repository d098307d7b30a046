"""A load generator for OpenAI-compatible chat servers (Martlet, llama-server), streaming.

    python3 scripts/loadgen.py chat BASE MODEL CLIENTS SECONDS PROMPT_TOKENS MAX_TOKENS [SEED]
    python3 scripts/loadgen.py multiturn BASE MODEL USERS TURNS

Prints one JSON object. Generated tokens are counted from the streamed chunks (one per token
on both servers) and from `usage` when the server sends it. End-of-text is forbidden through
`logit_bias` (an OpenAI field both servers honour), so every answer runs to MAX_TOKENS.
"""
import json
import random
import statistics
import sys
import threading
import time
import urllib.request

# SmolLM2's end-of-text, <|im_start|> and <|im_end|>.
NO_EOS = {"0": -100, "1": -100, "2": -100}
WORDS = ("river stone light garden paper window music orange winter market silver forest engine candle "
         "bridge copper island letter mountain harbor velvet lantern meadow thunder").split()


def text_of(rng, words):
    return " ".join(rng.choice(WORDS) for _ in range(words))


def stream_chat(base, model, messages, max_tokens, fields=None):
    """One streamed request: (time to first token, generated tokens, total seconds, text). `fields`
    replace or add request fields (another model's logit_bias, sampling settings)."""
    body = {"model": model, "messages": messages, "max_tokens": max_tokens, "temperature": 0, "stream": True,
            "logit_bias": NO_EOS, **(fields or {})}
    req = urllib.request.Request(base + "/v1/chat/completions", data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json", "Authorization": "Bearer none"})
    start = time.time()
    first, chunks, text, usage = None, 0, "", None
    with urllib.request.urlopen(req, timeout=600) as r:
        for line in r:
            line = line.decode().strip()
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            d = json.loads(line[6:])
            if d.get("usage"):
                usage = d["usage"]
            for c in d.get("choices", []):
                piece = c.get("delta", {}).get("content")
                if piece:
                    if first is None:
                        first = time.time() - start
                    chunks += 1
                    text += piece
    tokens = usage["completion_tokens"] if usage and usage.get("completion_tokens") else chunks
    return first or (time.time() - start), tokens, time.time() - start, text


def percentile(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(len(s) * p))] if s else None


def chat(base, model, clients, seconds, prompt_tokens, max_tokens, seed=0):
    """`clients` clients, each sending a fresh prompt of about `prompt_tokens` tokens and
    reading `max_tokens` streamed tokens, again and again for `seconds`. Runs with another
    `seed` send other prompts (so no run finds another's in a prompt cache).

    Besides all generated tokens over the wall time, the aggregate decode rate: the tokens
    after each answer's first over the time after its first token, summed over the answers,
    times the clients (what the streams decode together once they are running; other
    clients' prompts being processed meanwhile slow it, as they do in use)."""
    results, lock = [], threading.Lock()
    until = time.time() + seconds

    def client(i):
        rng = random.Random(seed * 1000 + i)
        while time.time() < until:
            prompt = f"Request {rng.randrange(10**9)}. Continue this list of words: " + text_of(rng, prompt_tokens)
            r = stream_chat(base, model, [{"role": "user", "content": prompt}], max_tokens)
            with lock:
                results.append(r)

    started = time.time()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.time() - started
    ttft = [r[0] for r in results]
    decode_seconds = sum(r[2] - r[0] for r in results)
    decode_rate = clients * sum(r[1] - 1 for r in results) / decode_seconds if decode_seconds > 0 else 0.0
    return {"clients": clients, "requests": len(results), "seconds": round(wall, 1),
            "decode_tokens_per_second": round(decode_rate, 1),
            "generated_tokens": sum(r[1] for r in results),
            "tokens_per_second": round(sum(r[1] for r in results) / wall, 1),
            "ttft_p50_ms": round(percentile(ttft, 0.5) * 1000, 1), "ttft_p99_ms": round(percentile(ttft, 0.99) * 1000, 1),
            "ttft_ms": [round(x * 1000, 1) for x in ttft]}


def multiturn(base, model, users, turns):
    """`users` users, each holding a `turns`-turn conversation that starts with the same long
    system prompt; the time to first token of every turn."""
    system = "You are a helpful assistant for a library. " + text_of(random.Random(0), 250)
    ttft, lock = [], threading.Lock()

    def user(i):
        rng = random.Random(100 + i)
        messages = [{"role": "system", "content": system}]
        for _ in range(turns):
            messages.append({"role": "user", "content": "Tell me about " + text_of(rng, 20)})
            first, _, _, text = stream_chat(base, model, messages, 48)
            messages.append({"role": "assistant", "content": text})
            with lock:
                ttft.append(first)

    threads = [threading.Thread(target=user, args=(i,)) for i in range(users)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"users": users, "turns": turns, "ttft_mean_ms": round(statistics.mean(ttft) * 1000, 1),
            "ttft_p50_ms": round(percentile(ttft, 0.5) * 1000, 1), "ttft_p99_ms": round(percentile(ttft, 0.99) * 1000, 1)}


if __name__ == "__main__":
    kind, base, model = sys.argv[1:4]
    if kind == "chat":
        c, s, p, m = map(int, sys.argv[4:8])
        seed = int(sys.argv[8]) if len(sys.argv) > 8 else 0
        print(json.dumps(chat(base, model, c, s, p, m, seed)))
    else:
        u, t = map(int, sys.argv[4:6])
        print(json.dumps(multiturn(base, model, u, t)))
