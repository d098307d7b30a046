"""Clients that leave at every stage of a request, and slowloris connections: the server
frees what each held (KV blocks, descriptors), keeps answering everyone else correctly, and
times the slow ones out. The long version is scripts/reliability (RELIABILITY.md)."""
import faults
from conftest import _binary

MODEL = "smollm2-135m-instruct"


def test_clients_leaving_at_every_stage_leak_nothing(server):
    r = faults.aborts(server.base, server.proc.pid, MODEL, total=300, threads=8, check_every=10)
    assert all(n > 0 for n in r["by_stage"].values()), r["by_stage"]
    assert r["checks"] >= 20 and not r["wrong_answers"] and not r["check_errors"], r
    assert r["engine_after"] == {"martlet_kv_blocks_used": 0, "martlet_requests_waiting": 0, "martlet_sequences_running": 0}, r
    assert r["descriptors_after"] <= r["descriptors_before"], r


def test_slowloris_connections_are_timed_out_while_others_are_served(server):
    r = faults.slowloris(server.base, MODEL, connections=100, probes=10)
    assert r["answered_408"] == 100 and r["still_open_after_60s"] == 0, r


def test_kv_exhaustion_and_queue_overflow_refuse_at_once_and_answer_the_rest_exactly_once():
    # A 512-token KV pool for 16 clients generating 160 tokens each: sequences are preempted
    # and recomputed; a waiting queue of 4: the rest are refused with 429 at once.
    r = faults.overload(_binary(), MODEL, clients=16, per_client=2, kv_tokens=512, max_waiting=4, max_tokens=160)
    assert not r["bad"] and not r["wrong"] and r["hung"] == 0, r
    assert r["answered"] > 0 and r["refused_429"] > 0 and r["answered"] + r["refused_429"] == r["requests"], r
    assert (r["server_answered_200"], r["server_refused_429"]) == (r["answered"], r["refused_429"]), r
    assert r["preemptions"] > 0 and r["slowest_429_s"] < 2, r
    assert r["engine_after"] == {"martlet_kv_blocks_used": 0, "martlet_requests_waiting": 0, "martlet_sequences_running": 0}, r
    assert r["descriptors_after"] <= r["descriptors_before"], r
