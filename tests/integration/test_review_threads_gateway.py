"""Review threads through the PyGithub gateway and the simulator: PR heads, threads, replies."""

from __future__ import annotations

from pathlib import Path

from graphql import build_schema, graphql_sync, parse, validate

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


def test_resolved_threads_are_read_over_graphql_page_by_page() -> None:
    with simulated() as (sim, gateway, _):
        pull = sim.add_pull("Calc", "milestone-bot/issue-1")
        roots = [sim.add_review_comment(pull, f"ask {n}", user="rita") for n in range(3)]
        sim.add_review_comment(pull, "and this", user="mona", in_reply_to=roots[1])
        sim.resolve_thread(roots[0])
        sim.resolve_thread(roots[2])
        assert gateway.resolved_threads(pull) == {roots[0], roots[2]}
        [query] = [s for s in sim.seen if s.path == "/graphql"]
        assert "reviewThreads" in query.body["query"] and query.body["variables"]["number"] == pull
        # The real response shape: data.repository.pullRequest.reviewThreads {pageInfo, nodes}.
        page = query.answer["data"]["repository"]["pullRequest"]["reviewThreads"]
        assert page["pageInfo"]["hasNextPage"] is False
        assert [n["isResolved"] for n in page["nodes"]] == [True, False, True]
        assert [n["comments"]["nodes"][0]["fullDatabaseId"] for n in page["nodes"]] == [str(r) for r in roots]
        # Over 100 threads: the next page follows the cursor.
        more = [sim.add_review_comment(pull, f"more {n}", user="rita") for n in range(100)]
        sim.resolve_thread(more[-1])
        sim.seen.clear()
        assert gateway.resolved_threads(pull) == {roots[0], roots[2], more[-1]}
        assert [len(s.answer["data"]["repository"]["pullRequest"]["reviewThreads"]["nodes"])
                for s in sim.seen if s.path == "/graphql"] == [100, 3]  # fmt: skip


def test_without_graphql_the_resolved_state_is_unknown_not_an_error() -> None:
    with simulated() as (sim, gateway, _):
        pull = sim.add_pull("Calc", "milestone-bot/issue-1")
        sim.resolve_thread(sim.add_review_comment(pull, "ask", user="rita"))
        sim.faults.append(Fault("POST", r"^/graphql$", status=404, message="Not Found"))  # e.g. an old GHES
        assert gateway.resolved_threads(pull) is None
        missing = sim.add_pull("Gone", "b2")
        del sim.pulls[missing]  # GraphQL's NOT_FOUND error (status 200) is a failure to read, too
        assert gateway.resolved_threads(missing) is None


def test_reactions_on_a_review_comment_use_the_review_comment_route() -> None:
    with simulated() as (sim, gateway, _):
        pull = sim.add_pull("Calc", "milestone-bot/issue-1")
        root = sim.add_review_comment(pull, "/bot fix", user="wendy")
        gateway.react_review_comment(root, "eyes")
        gateway.react_review_comment(root, "eyes")  # GitHub answers 200: no second reaction
        gateway.react_review_comment(root, "rocket")
        assert [(r["comment"], r["content"], r.get("on")) for r in sim.reactions] == [
            (root, "eyes", "review"),
            (root, "rocket", "review"),
        ]
        assert [s.status for s in sim.seen if s.path.endswith("/reactions")] == [201, 200, 201]


SCHEMA = Path(__file__).resolve().parents[1] / "fixtures" / "github" / "graphql-review-threads.graphql"


def test_the_threads_query_and_the_simulators_answer_fit_githubs_graphql_schema() -> None:
    schema = build_schema(SCHEMA.read_text())
    with simulated() as (sim, gateway, _):
        pull = sim.add_pull("Calc", "milestone-bot/issue-1")
        roots = [sim.add_review_comment(pull, f"ask {n}", user="rita") for n in range(2)]
        sim.resolve_thread(roots[1])
        assert gateway.resolved_threads(pull) == {roots[1]}
        [seen] = [s for s in sim.seen if s.path == "/graphql"]
        assert validate(schema, parse(seen.body["query"])) == []  # the fields and arguments exist
        # GitHub's types over the simulator's answer: every field typed, non-null where GitHub says,
        # nothing missing or extra (the result would differ).
        result = graphql_sync(
            schema, seen.body["query"], root_value=seen.answer["data"], variable_values=seen.body["variables"]
        )
        assert result.errors is None and result.data == seen.answer["data"]
