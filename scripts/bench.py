"""The benchmark: this bot beside a stock ``rasa init`` bot, measured in one run.

``make bench`` (a benchmark, not a test: it asserts nothing and takes minutes).
Both bots run from the same virtual environment on the same machine, one after
the other, each with its own servers and nothing else of the other running:

- **stock**: ``rasa init --no-prompt`` (Rasa's moodbot: DIET, TED, Memoization,
  Rule policies; in-memory tracker store, no action server), over REST;
- **buzon**: this bot as ``make run`` starts it (the embedded profile: action
  server, encrypted SQLite tracker store), over REST;
- **topology** (when ``deploy/`` and ``tests/e2e/topology.py`` exist): the
  production topology, nginx in front of two Rasa servers and two action
  servers, over socket.io through nginx (it has no REST channel).

For each: training time, startup time (process start to the first answer,
mostly model loading), per-message latency p50/p95 over whole conversations
one at a time (a whole registration for buzon, a whole moodbot conversation for
the stock bot), throughput and p95 with 20 concurrent conversations, and peak
RSS per server process (the kernel's ``VmHWM``). For buzon, also the time to
upload a 20 MB evidence file through the web page. Everything goes to
``results/bench.json`` and ``results/bench.png``; the ratios are printed.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests import synthetic  # noqa: E402
from tests.e2e import servers  # noqa: E402

RESULTS = ROOT / "results"
STOCK_DIR = RESULTS / "bench-stock"
RASA = servers.RASA
ENV = {
    **os.environ,
    "RASA_TELEMETRY_ENABLED": "false",
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
    "PYTHONPATH": str(ROOT),
}

# --- the conversations ---------------------------------------------------------------------

CONVERSATIONS = yaml.safe_load((ROOT / "scripts" / "bench_conversations.yml").read_text())
STOCK_CONVERSATION: list[str] = CONVERSATIONS["stock"]


def buzon_conversation(index: int) -> list[str]:
    """A whole registration (12 messages), with a cédula and an e-mail of its own."""
    cedula = synthetic.cedula(f"171{(index * 7919) % 10**6:06d}")
    email = f"ciudadano{index}@example.com"
    return [
        line.replace("{cedula}", cedula).replace("{email}", email)
        for line in CONVERSATIONS["buzon"]
    ]


@dataclass
class Timings:
    latencies: list[float] = field(default_factory=list)
    by_turn: dict[int, list[float]] = field(default_factory=lambda: collections.defaultdict(list))
    conversations: int = 0
    failures: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, seconds: float, turn: int) -> None:
        with self.lock:
            self.latencies.append(seconds)
            self.by_turn[turn].append(seconds)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(statistics.median(values) * 1000, 1),
        "p95_ms": round(percentile(values, 0.95) * 1000, 1),
        "mean_ms": round(statistics.fmean(values) * 1000, 1),
        "messages": len(values),
    }


Talker = Callable[[str, str], list]


def rest_talker(url: str) -> Talker:
    local = threading.local()

    def say(sender: str, message: str) -> list:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        reply = local.session.post(
            f"{url}/webhooks/rest/webhook", json={"sender": sender, "message": message}, timeout=120
        )
        reply.raise_for_status()
        return reply.json()

    return say


# What the last answer of a whole conversation holds when it went as scripted.
FINISHED = {"stock": "Bye", "buzon": "IESS-Q-", "topology": "IESS-Q-"}


def converse(say: Talker, script: list[str], timings: Timings, finished: str) -> None:
    """One whole conversation; a failure when its last answer is not ``finished``."""
    sender = uuid.uuid4().hex
    answer: list = []
    for turn, message in enumerate(script):
        start = time.perf_counter()
        answer = say(sender, message)
        timings.add(time.perf_counter() - start, turn)
    with timings.lock:
        timings.conversations += 1
        if finished not in " ".join(m.get("text", "") for m in answer):
            timings.failures += 1


def sequential(say: Talker, scripts: Callable[[int], list[str]], count: int, finished: str):
    timings = Timings()
    for index in range(count):
        converse(say, scripts(index), timings, finished)
    by_turn = {
        f"{turn + 1}. {scripts(0)[turn][:24]}": round(statistics.median(values) * 1000, 1)
        for turn, values in sorted(timings.by_turn.items())
    }
    return {
        **summary(timings.latencies),
        "failed_conversations": timings.failures,
        "p50_ms_by_turn": by_turn,
    }


def concurrent(
    say: Talker, scripts: Callable[[int], list[str]], finished: str, clients: int, seconds: float
) -> dict:
    """``clients`` conversations at once, each starting a new one when it ends, for ``seconds``."""
    timings = Timings()
    deadline = time.monotonic() + seconds
    counter = iter(range(10**9))
    counter_lock = threading.Lock()

    def client() -> None:
        while time.monotonic() < deadline:
            with counter_lock:
                index = next(counter)
            converse(say, scripts(10_000 + index), timings, finished)

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        for future in [pool.submit(client) for _ in range(clients)]:
            future.result()
    wall = time.perf_counter() - start
    return {
        **summary(timings.latencies),
        "clients": clients,
        "seconds": round(wall, 1),
        "messages_per_second": round(len(timings.latencies) / wall, 2),
        "conversations": timings.conversations,
        "failed_conversations": timings.failures,
    }


# --- profiles ------------------------------------------------------------------------------


def profiler(name: str, pid: int, args) -> tuple[str, subprocess.Popen, Path]:
    """py-spy sampling ``pid`` for the concurrent load (``--profile``)."""
    out = args.out.parent / f"profile-{name}.txt"
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or "py-spy"
    process = subprocess.Popen(
        [spy, "record", "--pid", str(pid), "--duration", str(int(args.seconds)), "--rate", "50",
         "--format", "raw", "--output", str(out), "--nonblocking"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return name, process, out


# Where a Rasa server's time goes, by the frames that stand for each part of a turn.
PARTS = {
    "NLU (parse)": "parse_message (rasa/core/processor.py",
    "conversation read (tracker store)": "retrieve (rasa/core/tracker_store.py",
    "conversation saved (tracker store)": "save_tracker (rasa/core/processor.py",
    "policies (next action)": "_predict_next_with_tracker (rasa/core/processor.py",
    "action server calls": "run (rasa/core/actions/action.py",
    "  of which the response check (jsonschema)": "iter_errors (jsonschema/validators.py",
    "  of which the request's JSON": "__init__ (aiohttp/payload.py",
    "decrypting events": "decrypt (buzon/crypto.py",
    "encrypting events": "encrypt (buzon/crypto.py",
}


def hot_spots(raw: Path, top: int = 12) -> dict:
    """From py-spy's raw output: each part's share of the samples (inclusive), and the
    functions that spend the most samples themselves."""
    if not raw.exists():
        return {}
    total, inclusive, own = 0, collections.Counter(), collections.Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        total += int(count)
        frames = [frame.rsplit(":", 1)[0] for frame in stack.split(";")]
        own[frames[-1]] += int(count)
        for frame in set(frames):
            inclusive[frame] += int(count)
    if not total:
        return {}
    parts = {
        label: round(sum(c for f, c in inclusive.items() if f.startswith(mark)) / total, 3)
        for label, mark in PARTS.items()
    }
    functions = {f: round(c / total, 3) for f, c in own.most_common(top)}
    return {"samples": total, "parts": parts, "self": functions}


# --- processes -----------------------------------------------------------------------------


def peak_rss_mb(pid: int) -> float | None:
    """The process's peak resident set (VmHWM), in MB; None once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def cpu_seconds(pid: int) -> float:
    """User and system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU time every core of the machine has spent busy so far (``/proc/stat``: all but
    idle and waiting for the disk), whoever spent it."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    """CPU time of this process (the load generator: every client thread)."""
    return sum(os.times()[:2])


def wait_for_answer(say: Talker, process: subprocess.Popen, log: Path, first: str) -> float:
    """Seconds from now until the bot answers ``first`` (the model is loaded)."""
    start = time.perf_counter()
    while time.perf_counter() - start < 300:
        if process.poll() is not None:
            raise RuntimeError(f"the server died:\n{log.read_text()[-3000:]}")
        try:
            if say("startup-probe", first):
                return time.perf_counter() - start
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"no answer after 300 s:\n{log.read_text()[-3000:]}")


TRAIN = [RASA, "train", "--force", "--fixed-model-name", "bench"]


def timed(args: list[str], cwd: Path, log: Path) -> float:
    start = time.perf_counter()
    # No training cache: each bot trains from scratch, as on a clean machine.
    env = {**ENV, "RASA_MAX_CACHE_SIZE": "0"}
    with log.open("w") as out:
        subprocess.run(args, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, check=True)
    return round(time.perf_counter() - start, 1)


def trained(project: Path, out: Path, log: Path) -> float:
    """Seconds to train ``project``'s model from scratch into ``out``/bench.tar.gz."""
    return timed([*TRAIN, "--out", str(out)], project, log)


def stock_bot(work: Path) -> dict:
    """Create (once) and train the stock bot; its training time is measured each run."""
    if not (STOCK_DIR / "domain.yml").exists():
        shutil.rmtree(STOCK_DIR, ignore_errors=True)
        STOCK_DIR.mkdir(parents=True)
        timed([RASA, "init", "--no-prompt", "--init-dir", str(STOCK_DIR)], STOCK_DIR, work / "i")
    training = trained(STOCK_DIR, work / "stock-models", work / "stock-train.log")
    return {"training_s": training, "model": str(work / "stock-models" / "bench.tar.gz")}


# --- the runs ------------------------------------------------------------------------------


def measure(label: str, say: Talker, scripts, pids: dict[str, int], args) -> dict:
    finished = FINISHED[label]
    result = {"sequential": sequential(say, scripts, args.conversations, finished)}
    # py-spy only with --profile (make profile installs it; make bench does not)
    profilers = (
        [profiler(f"{label}-{name}", pid, args) for name, pid in pids.items()]
        if args.profile
        else []
    )
    cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    machine_before, own_before = machine_busy_seconds(), own_cpu_seconds()
    result["concurrent"] = concurrent(say, scripts, finished, args.clients, args.seconds)
    messages = result["concurrent"]["messages"]
    result["cpu_ms_per_message"] = {
        name: round((cpu_seconds(pid) - cpu_before[name]) * 1000 / messages, 1)
        for name, pid in pids.items()
    }
    # where the rest of the two cores went: the bench's own clients, and the whole
    # machine (with the databases, nginx, and the py-spy samplers under make profile)
    result["cpu_ms_per_message"]["load generator"] = round(
        (own_cpu_seconds() - own_before) * 1000 / messages, 1
    )
    result["cpu_ms_per_message"]["whole machine"] = round(
        (machine_busy_seconds() - machine_before) * 1000 / messages, 1
    )
    for name, process, out in profilers:
        process.wait(timeout=60)
        result.setdefault("profile", {})[name.split("-", 1)[1]] = hot_spots(out)
    result["peak_rss_mb"] = {name: peak_rss_mb(pid) for name, pid in pids.items()}
    return result


def run_stock(work: Path, args) -> dict:
    built = stock_bot(work)
    port = servers.free_port()
    log = work / "stock-rasa.log"
    process = subprocess.Popen(
        [RASA, "run", "--model", built["model"], "--port", str(port), "--interface", "127.0.0.1"],
        cwd=STOCK_DIR,
        env=ENV,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    try:
        say = rest_talker(f"http://127.0.0.1:{port}")
        startup = wait_for_answer(say, process, log, "hello")
        result = measure("stock", say, lambda _: STOCK_CONVERSATION, {"rasa": process.pid}, args)
    finally:
        process.terminate()
        process.wait(timeout=30)
    return {"training_s": built["training_s"], "startup_s": round(startup, 1), **result}


def run_buzon(work: Path, args) -> dict:
    training = None
    if args.train:
        training = trained(ROOT, work / "buzon-models", work / "buzon-train.log")
    folder = work / "buzon"
    folder.mkdir()
    env = {
        "BUZON_VAR_DIR": str(folder / "var"),
        "DATABASE_URL": f"sqlite:///{folder / 'cases.db'}",
        "CASE_ENCRYPTION_KEY": _fernet_key(),
    }
    from buzon import db

    db.migrate(env["DATABASE_URL"])
    bot = servers.Bot(folder, env, servers.EMBEDDED_ENDPOINTS % (folder / "tracker.db"), api=False)
    start = time.perf_counter()
    actions = bot.start_actions()
    rasa = bot._start(
        "rasa",
        [
            RASA,
            "run",
            "--model",
            str(servers.MODEL),
            "--endpoints",
            str(bot.endpoints),
            "--credentials",
            bot.credentials,
            "--interface",
            "127.0.0.1",
            "--port",
            str(bot.rasa_port),
        ],
    )
    try:
        say = rest_talker(bot.url)
        startup = time.perf_counter() - start
        startup += wait_for_answer(say, rasa, bot.logs["rasa"], "hola")
        pids = {"rasa": rasa.pid, "actions": actions.pid}
        result = measure("buzon", say, buzon_conversation, pids, args)
        result["upload_20mb_s"] = upload_20mb(bot.url)
    finally:
        bot.stop()
    return {"training_s": training, "startup_s": round(startup, 1), **result}


def upload_20mb(url: str) -> float:
    """Seconds to send a 20 MB PDF to a denuncia's evidence question through the page."""
    from tests.e2e.socket_chat import SocketChat

    cookie = SocketChat.page_cookie(url)
    chat = SocketChat(url, cookie, origin=url).connect()
    try:
        script = buzon_conversation(999)[1:9] + [
            '/inform{"category":"denuncia_coima"}',
            "/affirm",  # "Sí, tengo": the bot waits for the files
        ]
        for message in script:
            said = chat.say(message.replace("register_queja", "register_denuncia"), quiet=0.8)
            if os.environ.get("BENCH_DEBUG"):
                print(message, "->", [m.get("text", "")[:60] for m in said])
        body = b"%PDF-1.4\n" + b"0" * (20 * 1000 * 1000 - 64) + b"\n%%EOF\n"
        start = time.perf_counter()
        answer = requests.post(
            f"{url}/webhooks/web/upload",
            timeout=120,
            cookies={"buzon_chat": cookie},
            headers={"Origin": url},
            data={"sender": chat.session_id},
            files={"file": ("prueba.pdf", body, "application/pdf")},
        )
        seconds = time.perf_counter() - start
        answer.raise_for_status()
        told = answer.json().get("message", "")
        if "evidence_file" not in told:  # the channel's note of a stored file
            raise RuntimeError(f"the file was not stored: {told[:200]}")
        return round(seconds, 2)
    finally:
        chat.close()


def _fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


# --- the report ----------------------------------------------------------------------------


def ratios(stock: dict, buzon: dict, topology: dict | None) -> dict:
    out = {
        "latency_p50": buzon["sequential"]["p50_ms"] / stock["sequential"]["p50_ms"],
        "latency_p95": buzon["sequential"]["p95_ms"] / stock["sequential"]["p95_ms"],
        "throughput_one_process": buzon["concurrent"]["messages_per_second"]
        / stock["concurrent"]["messages_per_second"],
    }
    if topology:
        out["throughput_topology"] = (
            topology["concurrent"]["messages_per_second"]
            / stock["concurrent"]["messages_per_second"]
        )
    return {k: round(v, 2) for k, v in out.items()}


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [name for name in ("stock", "buzon", "topology") if report.get(name)]
    figure, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    panels = [
        ("latency, one conversation at a time (ms)", "sequential", ("p50_ms", "p95_ms")),
        (f"latency, {report['clients']} at once (ms)", "concurrent", ("p50_ms", "p95_ms")),
    ]
    for axis, (title, part, keys) in zip(axes, panels, strict=False):
        for offset, key in enumerate(keys):
            values = [report[r][part][key] for r in runs]
            positions = [i + offset * 0.4 for i in range(len(runs))]
            axis.bar(positions, values, width=0.4, label=key.split("_")[0])
        axis.set_xticks([i + 0.2 for i in range(len(runs))], runs)
        axis.set_title(title, fontsize=10)
        axis.legend(fontsize=8)
    axes[2].bar(runs, [report[r]["concurrent"]["messages_per_second"] for r in runs])
    axes[2].set_title(f"throughput, {report['clients']} at once (messages/s)", fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # 40, not 10: the stock bot's p95 over 10 conversations (40 messages, so the second
    # slowest) was 24.3 ms in one run and 29.5 ms in another on one machine
    parser.add_argument("--conversations", type=int, default=40, help="one at a time")
    parser.add_argument("--clients", type=int, default=20, help="conversations at once")
    parser.add_argument("--seconds", type=float, default=60, help="of concurrent load")
    parser.add_argument("--no-train", dest="train", action="store_false")
    parser.add_argument("--only", choices=["stock", "buzon", "topology"], action="append")
    parser.add_argument("--out", type=Path, default=RESULTS / "bench.json")
    parser.add_argument("--profile", action="store_true", help="py-spy during the load")
    args = parser.parse_args(argv)
    only = set(args.only or ["stock", "buzon", "topology"])
    RESULTS.mkdir(exist_ok=True)
    report: dict = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "clients": args.clients,
        "seconds": args.seconds,
        "conversations": args.conversations,
    }
    if args.only and args.out.exists():  # a part measured again: the others are kept
        earlier = json.loads(args.out.read_text())
        report.update({k: earlier[k] for k in ("stock", "buzon", "topology") if k in earlier})
    with tempfile.TemporaryDirectory(prefix="bench-") as folder:
        work = Path(folder)
        if "stock" in only:
            print("  the stock rasa init bot ...", flush=True)
            report["stock"] = run_stock(work, args)
        if "buzon" in only:
            print("  this bot, one Rasa server and one action server ...", flush=True)
            report["buzon"] = run_buzon(work, args)
        if "topology" in only:
            report["topology"] = run_topology(work, args)
    if report.get("stock") and report.get("buzon"):
        report["ratios"] = ratios(report["stock"], report["buzon"], report.get("topology"))
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    if report.get("stock") or report.get("buzon"):
        plot(report, args.out.with_suffix(".png"))
    print(json.dumps({k: report[k] for k in report if k not in ("machine",)}, indent=2))
    print(f"  written: {args.out} and {args.out.with_suffix('.png')}")


def run_topology(work: Path, args) -> dict | None:
    """The production topology (``scripts/run-production.sh``: nginx, two Rasa servers,
    two action servers, PostgreSQL, Redis) with the same conversations, over socket.io
    through nginx, since it has no REST channel. A turn ends when as many bot messages
    have arrived as the same turn gave in a first, unhurried conversation."""
    try:
        from tests.e2e import topology
    except ImportError:
        print("  (no production topology in this checkout: skipped)")
        return None
    print("  the production topology: nginx, 2 Rasa servers, 2 action servers ...", flush=True)
    postgres = topology.PrivatePostgres().start()
    redis = topology.PrivateRedis().start()
    smtp = topology.SmtpServer().start()
    topo = topology.Topology(postgres, redis.port, smtp.port, {})
    try:
        start = time.perf_counter()
        topo.start()
        startup = time.perf_counter() - start
        names = [n for n in topo.PROCESSES if n.startswith(("rasa", "actions"))]
        pids = {name: topo.pid(name) for name in names}
        counts = answers_per_turn(topo)
        say = socket_talker(topo, counts)
        result = {"startup_s": round(startup, 1), "answers_per_turn": counts}
        result.update(measure("topology", say, buzon_conversation, pids, args))
    finally:
        topo.destroy()
        smtp.stop()
        redis.destroy()
        postgres.destroy()
    return result


def answers_per_turn(topo: Any) -> list[int]:
    """How many messages each turn of the registration answers over socket.io: one
    conversation, each turn given two quiet seconds."""
    from tests.e2e.topology import Citizen

    citizen = Citizen(topo.public_url, 9999, 6, address="127.0.0.254").open()
    counts = []
    try:
        for message in buzon_conversation(9999):
            before = len(citizen.messages)
            said = {"message": message, "customData": {"language": "es"}}
            citizen.client.emit("user_uttered", {**said, "session_id": citizen.session_id})
            last, seen = time.monotonic(), before
            while time.monotonic() - last < 2.0:
                time.sleep(0.1)
                if len(citizen.messages) != seen:
                    last, seen = time.monotonic(), len(citizen.messages)
            counts.append(len(citizen.messages) - before)
    finally:
        citizen.close()
    return counts


def socket_talker(topo: Any, counts: list[int]) -> Talker:
    """A citizen's widget per conversation (its own loopback address, as the per-address
    rate limit expects of distinct people), the turn timed until its answers arrived."""
    from tests.e2e.topology import Citizen

    local = threading.local()
    numbers = iter(range(10**9))
    lock = threading.Lock()

    def say(sender: str, message: str) -> list:
        citizen = getattr(local, "citizen", None)
        if citizen is None or getattr(local, "sender", None) != sender:
            if citizen is not None:
                citizen.close()
            with lock:
                number = next(numbers)
            address = f"127.0.{1 + number // 250 % 250}.{2 + number % 250}"
            citizen = Citizen(topo.public_url, number % 10_000, 7, address=address).open()
            local.citizen, local.sender, local.turn = citizen, sender, 0
        expected = counts[min(local.turn, len(counts) - 1)]
        local.turn += 1
        before = len(citizen.messages)
        citizen.client.emit(
            "user_uttered",
            {
                "message": message,
                "customData": {"language": "es"},
                "session_id": citizen.session_id,
            },
        )
        deadline = time.monotonic() + 120
        with citizen.arrived:
            while len(citizen.messages) < before + expected and time.monotonic() < deadline:
                citizen.arrived.wait(0.5)
        return citizen.messages[before:]

    return say


if __name__ == "__main__":
    main()
