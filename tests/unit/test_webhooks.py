"""Webhooks without emulators: Standard Webhooks signing (against the reference libraries' own test
vector), the sample receiver of docs/webhooks.md, the SSRF address classes, the retry schedule, and the
job.* events of the bulk pipeline (exactly one event id per job; the outbox mark the sweep republishes)."""

from __future__ import annotations

import importlib.util
import ipaddress
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shared.bulk.pipeline import completion, fan_out, splitter, sweep
from shared.notify import addresses, schedule, signing
from shared.platform.settings import Settings
from tests import bulk_files
from tests.unit.test_pipeline_stages import TENANT, finalized, new_file, run_chunks

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location(
    "webhook_receiver", ROOT / "docs" / "examples" / "webhook_receiver.py"
)
assert _spec and _spec.loader
receiver = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(receiver)

# The test vector of the Standard Webhooks reference libraries (standard-webhooks/standard-webhooks,
# libraries/python/tests/test_webhooks.py test_sign_function, and the JavaScript library's same test).
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TIMESTAMP = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_signing_matches_the_reference_test_vector():
    assert signing.sign(VECTOR_SECRET, VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY) == VECTOR_SIGNATURE
    headers = signing.headers([VECTOR_SECRET], VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY)
    assert headers == {
        "webhook-id": VECTOR_ID,
        "webhook-timestamp": str(VECTOR_TIMESTAMP),
        "webhook-signature": VECTOR_SIGNATURE,
    }


def test_the_sample_receiver_verifies_the_vector_and_refuses_what_is_not_genuine():
    headers = signing.headers([VECTOR_SECRET], VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY)
    at = VECTOR_TIMESTAMP + 299
    assert receiver.verify(VECTOR_SECRET, headers, VECTOR_BODY, now=at) == VECTOR_ID
    refused = [
        (VECTOR_SECRET, headers, VECTOR_BODY + b" ", at),  # the body changed
        (signing.new_secret(), headers, VECTOR_BODY, at),  # another endpoint's secret
        (VECTOR_SECRET, headers, VECTOR_BODY, VECTOR_TIMESTAMP + 301),  # outside the 5 min tolerance
        (VECTOR_SECRET, headers, VECTOR_BODY, VECTOR_TIMESTAMP - 301),
        (VECTOR_SECRET, {**headers, "webhook-id": "msg_other"}, VECTOR_BODY, at),
        (VECTOR_SECRET, {k: v for k, v in headers.items() if k != "webhook-signature"}, VECTOR_BODY, at),
        (VECTOR_SECRET, {**headers, "webhook-timestamp": "soon"}, VECTOR_BODY, at),
    ]
    for secret, given, body, now in refused:
        with pytest.raises(receiver.InvalidWebhook):
            receiver.verify(secret, given, body, now=now)


def test_during_a_rotation_both_secrets_sign_and_either_verifies():
    old, new = signing.new_secret(), signing.new_secret()
    assert re.fullmatch(r"whsec_[A-Za-z0-9+/]{43}=", new) and len(signing.secret_key(new)) == 32
    body = signing.payload("job.completed", "2026-12-04T10:00:00Z", {"jobId": "j1"})
    assert body == b'{"type":"job.completed","timestamp":"2026-12-04T10:00:00Z","data":{"jobId":"j1"}}'
    headers = signing.headers([new, old], "evt_job_j1", 1_700_000_000, body)
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        assert receiver.verify(secret, headers, body, now=1_700_000_000) == "evt_job_j1"
    with pytest.raises(ValueError):
        signing.headers([new], "evt.with.dots", 1, body)  # the spec forbids a '.' in the id


def test_the_docs_show_the_receiver_that_is_tested():
    doc = (ROOT / "docs" / "webhooks.md").read_text()
    code = (ROOT / "docs" / "examples" / "webhook_receiver.py").read_text()
    assert f"```python\n{code}```" in doc


# -- SSRF -----------------------------------------------------------------------------------------

REFUSED_ADDRESSES = {
    "127.0.0.1": "loopback",
    "127.8.9.10": "loopback",
    "::1": "loopback",
    "10.0.0.1": "private",
    "172.16.5.4": "private",
    "192.168.1.1": "private",
    "169.254.169.254": "link-local",  # the metadata server
    "169.254.1.1": "link-local",
    "fe80::1": "link-local",
    "fc00::1": "private",  # unique-local
    "fd12:3456::1": "private",
    "100.64.0.1": "CGNAT",
    "100.127.255.254": "CGNAT",
    "224.0.0.1": "multicast",
    "ff02::1": "multicast",
    "0.0.0.0": "unspecified",
    "::": "unspecified",
    "::ffff:10.0.0.1": "private",  # IPv4-mapped
    "::ffff:169.254.169.254": "link-local",
    "64:ff9b::a9fe:a9fe": "link-local",  # NAT64 of 169.254.169.254
    "2002:a00:1::1": "private",  # 6to4 of 10.0.0.1
    "240.0.0.1": "private",  # reserved (Python counts it private)
    "192.0.2.1": "private",  # documentation (TEST-NET-1)
}


@pytest.mark.parametrize("address", sorted(REFUSED_ADDRESSES))
def test_every_internal_address_class_is_refused(address):
    why = addresses.forbidden(ipaddress.ip_address(address))
    assert why is not None and REFUSED_ADDRESSES[address].lower() in why.lower()
    literal = f"[{address}]" if ":" in address else address
    with pytest.raises(addresses.Refused):
        addresses.check(f"https://{literal}/hook", allow_loopback=False)


def test_public_addresses_pass():
    for address in ("93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "100.128.0.1"):
        assert addresses.forbidden(ipaddress.ip_address(address)) is None


def fixed(*answers: str) -> addresses.Resolver:
    return lambda _host, _port: list(answers)


def test_a_name_is_checked_by_every_address_it_resolves_to():
    target = addresses.check("https://hooks.example.com:8443/in?x=1", False, fixed("93.184.216.34"))
    assert (target.scheme, target.host, target.port, target.path, target.address) == (
        "https",
        "hooks.example.com",
        8443,
        "/in?x=1",
        "93.184.216.34",
    )
    for answers in (("10.0.0.1",), ("93.184.216.34", "10.0.0.1"), ("169.254.169.254",)):
        with pytest.raises(addresses.Refused, match="resolves to"):
            addresses.check("https://hooks.example.com/", False, fixed(*answers))


def test_urls_that_are_not_https_to_a_public_host_are_refused():
    public = fixed("93.184.216.34")
    cases = {
        "http://hooks.example.com/": "https",
        "ftp://hooks.example.com/": "https",
        "https://metadata.google.internal/computeMetadata/v1/": "metadata",
        "https://METADATA.google.internal./": "metadata",
        "https://user:pw@hooks.example.com/": "credentials",
        "https:///nohost": "no host",
        "https://hooks.example.com/#frag": "fragment",
        "https://hooks.example.com:99999/": "not a URL",
    }
    for url, said in cases.items():
        with pytest.raises(addresses.Refused, match=said):
            addresses.check(url, False, public)


def test_loopback_http_only_with_the_setting_and_never_other_private_addresses():
    assert Settings.model_fields["webhooks_allow_loopback"].default is False
    with pytest.raises(addresses.Refused, match="loopback"):
        addresses.check("http://127.0.0.1:8080/hook", allow_loopback=False)
    with pytest.raises(addresses.Refused, match="loopback"):
        addresses.check("http://localhost:8080/hook", False, fixed("127.0.0.1"))
    target = addresses.check("http://127.0.0.1:8080/hook", allow_loopback=True)
    assert (target.scheme, target.address, target.port) == ("http", "127.0.0.1", 8080)
    with pytest.raises(addresses.Refused, match="private"):
        addresses.check("http://10.0.0.1/", allow_loopback=True)
    with pytest.raises(addresses.Refused, match="link-local"):
        addresses.check("https://169.254.169.254/", allow_loopback=True)


# -- retry schedule -------------------------------------------------------------------------------


def test_the_default_schedule_backs_off_exponentially_for_more_than_a_day_then_dead_letters():
    delays = Settings.model_fields["webhook_retry_delays_seconds"].default
    assert delays == [5, 300, 1800, 7200, 18000, 36000, 50400]  # Standard Webhooks' example schedule
    assert all(b > a for a, b in zip(delays, delays[1:], strict=False))
    start = now = datetime(2026, 12, 4, tzinfo=UTC)
    for failed in range(1, len(delays) + 1):
        following = schedule.next_attempt(delays, "d1", failed, now)
        assert following is not None
        gap = (following - now).total_seconds()
        assert delays[failed - 1] <= gap <= delays[failed - 1] * 1.1  # jitter of at most 10 %
        assert schedule.next_attempt(delays, "d1", failed, now) == following  # the same every time
        now = following
    assert now - start > timedelta(hours=24)
    assert schedule.next_attempt(delays, "d1", len(delays) + 1, now) is None  # dead letter


def test_retry_after_lengthens_a_delay_but_never_shortens_it():
    now = datetime(2026, 12, 4, tzinfo=UTC)
    assert schedule.retry_after_seconds("120") == 120 and schedule.retry_after_seconds("Wed, 21 Oct") is None
    longer = schedule.next_attempt([5], "d", 1, now, retry_after=120)
    assert longer == now + timedelta(seconds=120)
    shorter = schedule.next_attempt([300], "d", 1, now, retry_after=1)
    assert shorter is not None and shorter >= now + timedelta(seconds=300)
    capped = schedule.next_attempt([5], "d", 1, now, retry_after=10**9)
    assert capped == now + timedelta(days=1)


# -- job events -----------------------------------------------------------------------------------


@pytest.fixture
def mem(monkeypatch):
    from tests.memory_store import MemoryBackends

    monkeypatch.setenv("COATRO_CHUNK_ROWS", "10")
    from shared.platform import clients

    clients.reset()
    return MemoryBackends()


def test_a_finished_job_publishes_one_event_whatever_runs_twice(mem):
    record = new_file(mem, bulk_files.ndjson(25, "events"))
    splitter.split_upload(finalized(mem, record), mem.backends)
    job_id, _ = fan_out.create_job(TENANT, record.fileId, "1.0", None, mem.backends)
    run_chunks(mem)
    run_chunks(mem)  # every chunk redelivered
    completion.finish_if_done(mem.backends, job_id)
    sweep.sweep_jobs(None, mem.backends)
    assert [(e.id, e.type, e.tenantId) for e in mem.topics.notices] == [
        (f"evt_job_{job_id}", "job.completed", TENANT)
    ]
    event = mem.topics.notices[0]
    assert event.data["processedRows"] == 25 and event.data["jobId"] == job_id
    assert event.timestamp == mem.store.jobs[job_id].completedAt
    assert mem.store.jobs[job_id].noticePending is False


def test_an_event_not_published_stays_marked_and_the_sweep_publishes_it(mem):
    record = new_file(mem, bulk_files.ndjson(5, "outbox"))
    splitter.split_upload(finalized(mem, record), mem.backends)
    job_id, _ = fan_out.create_job(TENANT, record.fileId, "1.0", None, mem.backends)
    mem.topics.fail_notices = 1  # Pub/Sub down just after the job's final state was committed
    run_chunks(mem)
    assert mem.store.jobs[job_id].status == "completed" and mem.store.jobs[job_id].noticePending
    assert mem.topics.notices == []
    sweep.sweep_jobs(None, mem.backends)
    assert [e.id for e in mem.topics.notices] == [f"evt_job_{job_id}"]
    assert not mem.store.jobs[job_id].noticePending
    sweep.sweep_jobs(None, mem.backends)
    assert len(mem.topics.notices) == 1


def test_a_failed_job_and_a_partially_completed_one_say_so(mem):
    bad = new_file(mem, b"this is not JSON", fmt="json", n=1)
    failed_id, _ = fan_out.create_job(TENANT, bad.fileId, "1.0", None, mem.backends)
    splitter.split_upload(finalized(mem, bad), mem.backends)
    partial = new_file(mem, bulk_files.ndjson(5, "partial") + b"{not json}\n", n=2)
    splitter.split_upload(finalized(mem, partial), mem.backends)
    partial_id, _ = fan_out.create_job(TENANT, partial.fileId, "1.0", None, mem.backends)
    run_chunks(mem)
    types = {e.id: e.type for e in mem.topics.notices}
    assert types == {f"evt_job_{failed_id}": "job.failed", f"evt_job_{partial_id}": "job.partially_completed"}
    assert next(e for e in mem.topics.notices if e.type == "job.failed").data["failureReason"]
