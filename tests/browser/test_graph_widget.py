"""The graph widget in a real JupyterLab, driven as a user drives it: live colours, a node's
output streaming into its panel, rerun and modify from the panel, a kernel that answers while a
run goes on, a 10,000-node tree drawn collapsed, clicks during a busy cell, and a run followed
from the store across a page reload and a new kernel."""

from __future__ import annotations

import json
import statistics
import time
import urllib.request
from typing import Any

import pytest
from lab_kit import Lab, Notebook, colour, shot

from conducto_nb.widget import encode as E

IMPORT = "import conducto_nb as co\n"
WIDE = (
    IMPORT + "with co.Serial() as wide:\n"
    "    for j in range(30):\n"
    "        with co.Parallel(name=f'w{j}'):\n"
    "            for k in range(j * 7):\n"
    "                co.Exec('true', name=f'n{k}')\n"
    "wide"
)


def test_colours_follow_states_live_and_output_streams(page: Any, lab: Lab) -> None:
    nb = Notebook(
        page,
        lab,
        [
            IMPORT + "with co.Serial() as root:\n"
            "    co.Exec('echo start; sleep 1.5; echo end-a', name='a', doc='**first** step')\n"
            "    with co.Parallel(name='p'):\n"
            "        co.Exec('for i in 1 2 3 4 5; do echo line-$i; sleep 0.5; done', name='b')\n"
            "        co.Exec('echo oops >&2; exit 3', name='c')\n"
            "run = root.start()\nrun",
        ],
    ).open()
    nb.run(0)
    page.wait_for_selector(".co-graph .co-item[data-path='/a']")
    nb.record_states()
    legend = page.locator(".co-graph .co-count")
    shown = [legend.nth(i).get_attribute("data-state") for i in range(legend.count())]
    assert shown and set(shown) <= {"pending", "queued", "running"}  # the states that occur
    nb.wait_state("/a", "done")
    assert nb.fill("/a") == colour("done")
    nb.wait_state("/p/b", "running")
    assert nb.fill("/p/b") == colour("running")
    nb.node("/p/b").click()
    nb.wait_panel("line-2")
    assert nb.state("/p/b") == "r", "the output arrived while the node still ran"
    shot(page, "live-panel-streaming")
    nb.wait_panel("line-5")
    nb.wait_state("/p/c", "error")
    assert nb.fill("/p/c") == colour("error")
    nb.wait_state("/p/b", "done")
    seen = nb.seen_states()
    assert seen["/a"][-1] == "d" and "r" in seen["/a"], seen
    assert seen["/p/b"][-2:] == ["r", "d"], seen
    counts = page.inner_text(".co-header .co-legend")
    assert "done 2" in counts and "error 1" in counts and "pending" not in counts
    nb.node("/a").click()
    nb.wait_panel("end-a")
    assert page.inner_text(".co-panel .co-doc strong") == "first"  # the doc, as Markdown


def test_rerun_a_failed_node_from_its_panel(page: Any, lab: Lab) -> None:
    nb = Notebook(
        page,
        lab,
        [
            IMPORT + "with co.Serial() as root:\n"
            "    co.Exec('test -f marker || { touch marker; echo not-yet >&2; exit 1; }',"
            " name='flaky')\n"
            "run = root.start()\nrun"
        ],
    ).open()
    nb.run(0)
    nb.wait_state("/flaky", "error")
    nb.node("/flaky").click()
    nb.wait_panel("not-yet")
    page.click(".co-panel .co-act-rerun")
    nb.wait_state("/flaky", "done")
    assert nb.fill("/flaky") == colour("done")
    page.wait_for_function("document.querySelectorAll('.co-panel .co-attempts tr').length === 3")
    shot(page, "rerun-done")


def test_a_retry_callback_shows_in_the_nodes_panel(page: Any, lab: Lab) -> None:
    nb = Notebook(
        page,
        lab,
        [
            IMPORT + "with co.Serial() as root:\n"
            "    step = co.Exec('test \"$CONDUCTO_NB_ATTEMPT\" -ge 2', name='step')\n"
            "    step.on_error(co.callback.retry(2))\n"
            "run = root.start()\nrun"
        ],
    ).open()
    nb.run(0)
    nb.wait_state("/step", "done")
    nb.node("/step").click()
    row = page.locator(".co-panel .co-callbacks tr").first
    row.wait_for()
    assert row.inner_text().split("\t")[1:] == [
        "on error",
        "retry(max_num_retries=2)",
        "retry 1 of 2",
    ]
    shot(page, "callback-in-panel")


def test_modify_a_command_and_env_then_see_the_new_output(page: Any, lab: Lab) -> None:
    nb = Notebook(
        page,
        lab,
        [
            IMPORT + "with co.Serial() as root:\n"
            "    co.Exec('echo broken; exit 1', name='step')\n"
            "run = root.start()\nrun"
        ],
    ).open()
    nb.run(0)
    nb.wait_state("/step", "error")
    nb.node("/step").click()
    nb.wait_panel("broken")
    page.click(".co-panel .co-act-modify")
    page.fill(".co-modify-command", 'echo "modified-$WHO"')
    page.fill(".co-modify-env", json.dumps({"WHO": "by-env"}))
    page.click(".co-modify-save")
    nb.wait_state("/step", "done")
    nb.wait_panel("modified-by-env")
    assert page.inner_text(".co-panel .co-command") == 'echo "modified-$WHO"'
    shot(page, "modified")


def test_fix_a_failed_step_from_the_graph_and_the_pipeline_goes_on(page: Any, lab: Lab) -> None:
    """The CI loop in the widget: lint fails, report shows blocked (its panel leads to lint);
    modify lint there, and report runs after it: the header ends done."""
    nb = Notebook(
        page,
        lab,
        [
            IMPORT + "with co.Serial() as root:\n"
            "    co.Exec('echo install', name='install')\n"
            "    with co.Parallel(name='test'):\n"
            "        co.Exec('echo unit', name='unit')\n"
            "        co.Exec('echo style; exit 1', name='lint')\n"
            "    co.Exec('echo report-written', name='report')\n"
            "run = root.start()\nrun"
        ],
    ).open()
    nb.run(0)
    nb.wait_state("/test/lint", "error")
    nb.wait_state("/report", "blocked")
    # The run ended in error: its first failure's panel opens, the header links to it.
    nb.wait_panel("style")
    assert page.inner_text(".co-panel .co-path") == "/test/lint"
    assert page.inner_text(".co-first-failure") == "first failure: /test/lint"
    # Buttons by state: on the failure, rerun and modify lead; what cannot be done says why.
    buttons = page.locator(".co-panel .co-actions .co-act")
    assert buttons.nth(0).inner_text() == "rerun" and buttons.nth(1).inner_text() == "modify"
    kill = page.locator(".co-panel .co-act-kill")
    assert kill.get_attribute("aria-disabled") == "true"
    assert kill.get_attribute("title") == "kill: nothing runs here"
    assert page.locator(".co-panel .co-act-unskip").get_attribute("aria-disabled") == "true"
    assert page.locator(".co-panel .co-act-rerun").get_attribute("aria-disabled") == "false"
    assert page.locator(".co-legend [data-state='pending']").count() == 0  # none is pending
    assert page.locator(".co-legend [data-state='blocked']").count() == 1
    assert page.locator(".co-graph .co-images").first.bounding_box() is None  # no images: no band
    nb.node("/report").click()
    nb.wait_panel("blocked: held back by the failure at /test/lint")
    shot(page, "blocked")
    page.click(".co-blocked-note .co-link")  # it leads to the failure
    nb.wait_panel("style")
    page.click(".co-panel .co-act-modify")
    page.fill(".co-modify-command", "echo clean")
    page.click(".co-modify-save")
    nb.wait_state("/test/lint", "done")
    nb.wait_state("/report", "done")
    nb.wait_state("/", "done")
    assert page.inner_text(".co-root-state") == "done"
    assert page.inner_text(".co-first-failure") == ""  # nothing failed any more
    shot(page, "fixed-and-went-on")


TIMELINE_READ = """() => {
  const rows = [...document.querySelectorAll('.co-timeline .co-tl-row')];
  const bars = [...document.querySelectorAll('.co-timeline .co-tl-run')];
  if (rows.length < 3 || bars.length < 3 || bars.some(b => b.dataset.state === 'running'))
    return null;
  const bar = p => document.querySelector(`.co-tl-row[data-path='${p}'] .co-tl-run`);
  return {rows: rows.map(r => r.dataset.path), states: bars.map(b => b.dataset.state),
          slow: +bar('/tests/slow').getAttribute('width'),
          quick: +bar('/tests/quick').getAttribute('width'),
          title: bar('/tests/slow').querySelector('title').textContent};
}"""


TIMELINE_SHOWN = """() => [...document.querySelectorAll('.co-timeline')].map(t => ({
  hidden: t.hidden, text: t.textContent.slice(0, 200),
  bars: [...t.querySelectorAll('.co-tl-run')].map(b => b.dataset.state),
  views: document.querySelectorAll('.co-graph').length}))"""


def test_the_timeline_shows_each_attempt_and_leads_to_its_node(page: Any, lab: Lab) -> None:
    """One click from the graph: a row per Exec that ran, a bar per attempt with its state
    and times; a click on a row opens that node's panel."""
    nb = Notebook(
        page,
        lab,
        [
            IMPORT + "with co.Serial() as root:\n"
            "    co.Exec('sleep 0.3', name='setup')\n"
            "    with co.Parallel(name='tests'):\n"
            "        co.Exec('sleep 0.5', name='slow')\n"
            "        co.Exec('echo quick', name='quick')\n"
            "run = root.start()\nrun"
        ],
    ).open()
    nb.run(0)
    nb.wait_state("/", "done")
    page.click(".co-header .co-timeline-toggle")
    # Read in the evaluation that finds it drawn and final: a live timeline is drawn again
    # each second, and the output is drawn again (a new view) as the run ends.
    try:
        seen = page.wait_for_function(TIMELINE_READ).json_value()
    except Exception as e:  # say what the page showed instead (a failure seen once, under load)
        shown = page.evaluate(TIMELINE_SHOWN)
        raise AssertionError(f"the timeline never showed three finished attempts: {shown}") from e
    assert (seen["rows"], seen["states"]) == (
        ["/setup", "/tests/slow", "/tests/quick"],
        ["done", "done", "done"],
    )
    assert seen["slow"] > seen["quick"]  # bar widths: 0.5 s against an echo
    assert "attempt 1: done, ran" in seen["title"]
    assert page.locator(".co-graph .co-scroll").is_hidden()
    shot(page, "timeline")
    page.locator(".co-tl-row[data-path='/tests/slow'] .co-tl-label").click()
    nb.wait_panel("sleep 0.5")
    page.click(".co-header .co-timeline-toggle")  # back to the graph
    assert page.locator(".co-graph .co-scroll").is_visible()


BUILD_TO_REPORT = ("/build", "/shards", "/report")


def test_a_wide_parallel_wraps_so_its_failure_is_in_view(page: Any, lab: Lab) -> None:
    """30 shards side by side: they wrap into columns instead of a column taller than the
    graph's box, so the one that failed shows without scrolling; steps line up at the top."""
    nb = Notebook(
        page,
        lab,
        [
            IMPORT + "with co.Serial() as root:\n"
            "    co.Exec('echo build', name='build')\n"
            "    with co.Parallel(name='shards'):\n"
            "        for i in range(30):\n"
            "            co.Exec('exit 1' if i == 27 else 'true', name=f'shard-{i:02}')\n"
            "    co.Exec('echo report', name='report')\n"
            "run = root.start()\nrun"
        ],
    ).open()
    nb.run(0)
    nb.wait_state("/shards/shard-27", "error")

    def rect(selector: str) -> dict[str, float]:
        found = page.evaluate(
            "s => { const r = document.querySelector(s)?.getBoundingClientRect();"
            " return r && {x: r.x, y: r.y, width: r.width, height: r.height}; }",
            selector,
        )
        assert found, selector
        return dict(found)

    box = rect(".co-graph .co-scroll")
    failed = rect(".co-graph .co-item[data-path='/shards/shard-27'] rect")
    assert box["y"] <= failed["y"] and failed["y"] + failed["height"] <= box["y"] + box["height"]
    assert box["x"] <= failed["x"] and failed["x"] + failed["width"] <= box["x"] + box["width"]
    tops = {p: rect(f".co-graph .co-item[data-path='{p}'] rect")["y"] for p in BUILD_TO_REPORT}
    assert len(set(tops.values())) == 1, tops  # Serial steps line up at the top
    shot(page, "wide-parallel")


def test_kernel_answers_while_a_thousand_nodes_run(page: Any, lab: Lab) -> None:
    nb = Notebook(
        page,
        lab,
        [
            IMPORT + "with co.Serial() as root:\n"
            "    for j in range(10):\n"
            "        with co.Parallel(name=f'batch-{j}', cpu=0.05):\n"
            "            for k in range(100):\n"
            "                co.Exec('sleep 0.3', name=f'n{k}')",
            "1+1",
            "run = root.start()\nrun",
        ],
    ).open()
    nb.run(0)
    idle = [nb.timed_run(1) for _ in range(10)]
    nb.run(2)
    nb.wait_state("/", "running")
    during = [nb.timed_run(1) for _ in range(20)]
    assert nb.state("/") == "r", "the run must still go on after the 20 executions"
    p95 = statistics.quantiles(during, n=20)[-1]
    idle_ms = statistics.median(idle) * 1000
    print(f"1+1: idle median {idle_ms:.0f} ms, during the run p95 {p95 * 1000:.0f} ms")
    shot(page, "thousand-nodes")
    assert p95 < 0.3, (idle, during)


def test_ten_thousand_nodes_draw_collapsed_and_expand(page: Any, lab: Lab) -> None:
    nb = Notebook(
        page,
        lab,
        [
            IMPORT + "with co.Serial() as big:\n"
            "    for j in range(100):\n"
            "        with co.Parallel(name=f'p{j}'):\n"
            "            for k in range(99):\n"
            "                co.Exec('true', name=f'n{k}')\n"
            "big",
            WIDE,
        ],
    ).open()
    nb.run(0)
    graph = page.wait_for_selector(".co-graph[data-nodes='10001']")  # 100 x 99 + 100 + 1
    draw_ms = float(graph.get_attribute("data-draw-ms"))
    shown = page.locator(".co-item").count()
    print(f"10,000 nodes: drawn in {draw_ms:.0f} ms, {shown} boxes")
    assert draw_ms < 2000 and shown < 300
    page.click(".co-group[data-key='/#0-50']")  # the first 50 Parallels, open within budget
    page.wait_for_selector(".co-cluster[data-path='/p0']")
    assert page.locator(".co-item").count() < 300
    page.click(".co-group[data-key='/p0#0-50']")  # p0's first 50 children
    page.wait_for_selector(".co-exec[data-path='/p0/n49']")
    page.click(".co-cluster[data-path='/p0'] .co-toggle")  # and closed again
    page.wait_for_selector(".co-box[data-path='/p0']")
    # The browser opens what Python's rule opens (the static SVG's): the same budget, same order.
    nb.run(1)
    second = page.locator(".jp-Notebook .jp-Cell").nth(1)
    second.locator(".co-graph").wait_for()
    drawn = second.locator(".co-cluster").evaluate_all("gs => gs.map(g => g.dataset.path)")
    namespace: dict[str, Any] = {}
    exec(WIDE, namespace)  # the same tree, here
    flat = E.flatten(namespace["wide"])
    assert sorted(drawn) == sorted(flat.paths[i] for i in E.expanded(flat))
    shot(page, "ten-thousand-expanded")


@pytest.mark.parametrize(
    "subshells",
    [
        pytest.param(
            "perCommTarget",
            marks=pytest.mark.lab_settings(
                {
                    "@jupyterlab/apputils-extension/kernels-settings": {
                        "commsOverSubshells": "perCommTarget"
                    }
                }
            ),
        ),
        pytest.param(
            "disabled",
            marks=pytest.mark.lab_settings(
                {
                    "@jupyterlab/apputils-extension/kernels-settings": {
                        "commsOverSubshells": "disabled"
                    }
                }
            ),
        ),
    ],
)
def test_a_click_during_a_busy_cell(page: Any, lab: Lab, subshells: str) -> None:
    """With comms over subshells (JupyterLab's default) a kill lands while another cell is
    busy; with them disabled it waits for that cell to end."""
    nb = Notebook(
        page,
        lab,
        [
            IMPORT + "with co.Serial() as root:\n"
            "    co.Exec('sleep 60', name='long')\n"
            "run = root.start()\nrun",
            "import time\ntime.sleep(15)",
        ],
    ).open()
    nb.run(0)
    nb.wait_state("/long", "running")
    nb.node("/long").click()  # the widget's first message, while the kernel is idle
    nb.wait_panel("sleep 60")
    nb.start(1)
    started = time.monotonic()
    page.click(".co-panel .co-act-kill")
    nb.wait_state("/long", "killed", timeout=30)
    took = time.monotonic() - started
    busy = nb.prompt(1) == "[*]:"
    print(f"comms over subshells {subshells}: kill landed after {took:.1f} s, cell busy: {busy}")
    # Told apart by whether the busy cell (15 s) still ran when the kill landed, not by a time
    # a slow machine could exceed.
    if subshells == "disabled":
        assert not busy  # it waited for the busy cell to end
    else:
        assert busy


def test_a_run_followed_from_the_store_across_reload_and_new_kernel(page: Any, lab: Lab) -> None:
    nb = Notebook(
        page,
        lab,
        [
            IMPORT + "with co.Serial() as root:\n"
            "    co.Exec('echo hello-from-elsewhere; sleep 3', name='a')\n"
            "    co.Exec('echo second', name='b')\n"
            "run = root.start(detach=True)  # its own process owns it\n"
            "open('run_id', 'w').write(run.id)",
            IMPORT + "co.load(open('run_id').read())",
        ],
    ).open()
    nb.run(0)
    nb.run(1)
    page.wait_for_selector(".co-title:has-text('read from the store')")
    nb.wait_state("/a", "running")
    nb.wait_state("/b", "done", timeout=40)
    nb.node("/a").click()
    nb.wait_panel("hello-from-elsewhere")
    page.keyboard.press("Control+s")
    time.sleep(1)
    page.reload()  # the widget comes back from the kernel with its states
    nb.wait_idle()
    nb.wait_state("/b", "done")
    kernel = json.load(urllib.request.urlopen(f"{lab.url}/api/kernels"))[0]["id"]
    request = urllib.request.Request(f"{lab.url}/api/kernels/{kernel}/restart", method="POST")
    urllib.request.urlopen(request).close()
    nb.wait_idle()
    nb.run(1)  # a new kernel: the recorded states and logs, from the store
    page.wait_for_function("document.querySelectorAll('.co-graph').length >= 1")
    nb.wait_state("/b", "done")
    nb.node("/a").click()
    nb.wait_panel("hello-from-elsewhere")
    shot(page, "from-the-store")
