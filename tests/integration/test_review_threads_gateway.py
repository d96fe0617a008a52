"""Review threads through the PyGithub gateway and the simulator: PR heads, threads, replies."""

from __future__ import annotations

from bot.github.gateway import marker
from bot.testing.github_server import BOT_LOGIN, Fault
from tests.integration.github_fixtures import simulated


def test_replies_group_into_threads_and_the_pr_head_is_read() -> None:
    with simulated() as (sim, gateway, _):
        pull = sim.add_pull("Calc", "milestone-bot/issue-1", head_sha="b" * 40)
        root = sim.add_review_comment(pull, "Rename x", user="rita", path="calc/ops.py", line=4)
        reply = sim.add_review_comment(pull, "and y", user="mona", in_reply_to=root)
        other = sim.add_review_comment(pull, "Typo", user="rita", path="README.md", line=1)
        comments = gateway.review_comments(pull)
        assert [(c.id, c.thread, c.user, c.path, c.line) for c in comments] == [
            (root, root, "rita", "calc/ops.py", 4),
            (reply, root, "mona", "calc/ops.py", 4),
            (other, other, "rita", "README.md", 1),
        ]
        head = gateway.pull(pull)
        assert (head.head, head.head_sha, head.from_fork, head.state) == (
            "milestone-bot/issue-1",
            "b" * 40,
            False,
            "open",
        )


def test_a_reply_to_a_reply_lands_in_the_thread_and_a_lost_post_is_not_repeated() -> None:
    with simulated() as (sim, gateway, sleeps):
        pull = sim.add_pull("Calc", "milestone-bot/issue-1")
        root = sim.add_review_comment(pull, "Rename x", user="rita")
        reply = sim.add_review_comment(pull, "please", user="mona", in_reply_to=root)
        # GitHub created the reply, but the client saw a 502: the retry finds it by its marker.
        sim.faults.append(Fault("POST", r"/replies$", status=502, after_write=True))
        made = gateway.reply_in_thread(pull, reply, marker("followup", "r1"), "Done in abc")
        mine = [c for c in sim.review_comments.values() if c["user"] == BOT_LOGIN]
        assert len(mine) == 1 and mine[0]["in_reply_to"] == root and made.id == mine[0]["id"]
        assert sleeps == [0.5]


def test_someone_elses_reply_with_the_marker_is_not_taken_over() -> None:
    with simulated() as (sim, gateway, _):
        pull = sim.add_pull("Calc", "milestone-bot/issue-1")
        root = sim.add_review_comment(pull, "Rename x", user="rita")
        sim.add_review_comment(pull, f"fake {marker('followup', 'r1')}", user="mallory", in_reply_to=root)
        gateway.reply_in_thread(pull, root, marker("followup", "r1"), "Done")
        users = [c["user"] for c in sim.review_comments.values()]
        assert users == ["rita", "mallory", BOT_LOGIN]
