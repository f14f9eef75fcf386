"""The pool's result outbox without Ray: a finished job's result is handed out on a lease,
not again while the lease runs, again when it ends (a gateway died before acknowledging),
and never after it is acknowledged."""

from __future__ import annotations

from actors.messages.v1 import common_pb2 as msg_common
from actors.messages.v1 import transcription_pb2 as msg_tx
from actors.transcription.pool import TranscriptionPoolActor
from actors.transcription.queue import DONE
from fabric.config import FabricSettings


async def test_results_are_leased_until_acknowledged() -> None:
    pool = TranscriptionPoolActor(FabricSettings())
    job = msg_tx.TranscriptionJob(job_id="job-1", reply_to=msg_common.Address(
        kind="mailbox", key="t1/101"))
    await pool._to_outbox(msg_tx.TranscriptionResult(job_id="job-1", status=DONE), job)
    [(kind, key, result)] = await pool.take_results(wait_s=0.0, lease_s=60.0)
    assert (kind, key, result.job_id) == ("mailbox", "t1/101", "job-1")
    assert await pool.take_results(wait_s=0.0) == []  # leased to the first taker
    pool._outbox["job-1"] = (job, result, 0.0)  # the lease ran out: the taker never acked
    assert [r.job_id for _, _, r in await pool.take_results(wait_s=0.0)] == ["job-1"]
    await pool.ack(["job-1"])
    assert await pool.take_results(wait_s=0.0) == [] and pool._outbox == {}
