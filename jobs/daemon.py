"""``archiver serve``: run every enabled source on its schedule until told to stop.

APScheduler (3.x) keeps the clock: one job per source with a :mod:`jobs.schedule`
trigger (cron with Vixie's daylight-saving rule, or an interval), plus a heartbeat
job that proves the scheduler is alive.  Its executor is replaced by
:class:`DispatchExecutor`, which hands the due fire times to :class:`Daemon` instead of
calling a function: the daemon applies the missed-run policy and the no-overlap rule
(:mod:`jobs.dispatch`), then runs the crawl through :func:`jobs.runner.run_source`
(its own process, time and memory limits, always a run record) in a thread, at most
``max_concurrent_runs`` at once.  A crawl that crashes or hangs never takes the
daemon down.

Signals: SIGTERM/SIGINT stop scheduling, give running crawls ``stop_grace_seconds``
to finish, then stop them (a second signal stops them at once); exit 0.  SIGHUP (or a
changed file with ``--reload-on-change``) re-reads the config; an invalid one is
rejected with its one-line error and the running config stays.

Crawl processes read a private snapshot of the last valid config, never the file
being edited.  After a restart the store's run history (``runs/<source>/``) says when
each source last ran, so a run missed while the daemon was down is made up once.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import signal
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Optional

from apscheduler.executors.base import BaseExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from crawler import __version__, keys
from crawler.config import ConfigError, LoadedConfig, Settings, SourceSettings, load_config, parse_config
from crawler.records import iso
from crawler.redisconn import CoordinationError
from crawler.secrets import mask
from crawler.store import StoreError, open_store
from jobs import history
from jobs.bucket import ensure_bucket
from jobs.cluster import ClusterGate, open_cluster
from jobs.dispatch import Active, Decision, Dispatcher, Slots
from jobs.health import HealthReport, SourceView, evaluate
from jobs.httpd import StatusServer
from jobs.metrics import Metrics
from jobs.runner import record_skipped, run_source
from jobs.schedule import Due, IntervalSchedule, Schedule, due_between, schedule_for

log = logging.getLogger("jobs.daemon")

HEARTBEAT_ID = "__heartbeat__"
HEARTBEAT_EVERY = timedelta(seconds=5)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _never_called() -> None:
    """APScheduler wants a callable per job; :class:`DispatchExecutor` never calls it."""


class DispatchExecutor(BaseExecutor):
    """Hands a job's due fire times to the daemon (which decides and runs), without blocking."""

    def __init__(self, on_due: Callable[[str, list], None]):
        super().__init__()
        self._on_due = on_due

    def submit_job(self, job, run_times):
        self._on_due(job.id, list(run_times))

    def _do_submit_job(self, job, run_times):  # pragma: no cover - submit_job is overridden
        raise NotImplementedError


class ConfigWatcher:
    """Polls the config file; reports a change once the file has been stable for one poll."""

    def __init__(self, path: Path):
        self.path = path
        self._loaded = self._last = self._stat()

    def _stat(self):
        try:
            st = os.stat(self.path)
            return st.st_mtime_ns, st.st_size, st.st_ino
        except OSError:
            return None

    def mark_loaded(self) -> None:
        self._loaded = self._last = self._stat()

    def poll(self) -> bool:
        sig = self._stat()
        stable, self._last = sig == self._last, sig
        if stable and sig is not None and sig != self._loaded:
            self._loaded = sig
            return True
        return False


def _timing(source: SourceSettings) -> tuple:
    return source.schedule, source.interval, source.timezone, source.jitter


class Daemon:
    def __init__(self, config_path: str | os.PathLike, *, log_format: str = "plain", log_level: str = "info",
                 run_now: bool = False, reload_on_change: bool = False,
                 listen: Optional[tuple[str, int]] = None, http: Optional[bool] = None,
                 create_bucket: bool = False, store_wait_s: float = 60.0,
                 clock: Callable[[], datetime] = utcnow, poll_s: float = 0.25, reload_poll_s: float = 1.0):
        self.config_path = Path(config_path)
        self.log_format, self.log_level = log_format, log_level
        self.run_now, self.listen, self.http_enabled = run_now, listen, http
        self.create_bucket, self.store_wait_s = create_bucket, store_wait_s
        self.clock, self.poll_s, self.reload_poll_s = clock, poll_s, reload_poll_s
        self.watcher = ConfigWatcher(self.config_path) if reload_on_change else None

        self.settings: Optional[Settings] = None
        self.sources: dict[str, SourceSettings] = {}   # scheduled (enabled) sources
        self.schedules: dict[str, Schedule] = {}
        self.last_activity: dict[str, datetime] = {}
        self.last_outcome: dict[str, str] = {}
        self.heartbeat: Optional[datetime] = None
        self.started_at = clock()

        self.stopping = threading.Event()    # no new runs
        self.stop_runs = threading.Event()   # stop running crawls now
        self._wake = threading.Event()
        self._hup = False
        self._signals = 0
        self._jobs_lock = threading.RLock()
        self._threads: set[threading.Thread] = set()
        self._threads_lock = threading.Lock()

        self.metrics = Metrics()
        self.dispatcher = Dispatcher(clock=clock)
        self.slots = Slots(1)
        self.recorder = ThreadPoolExecutor(1, thread_name_prefix="recorder")
        self.scheduler = BackgroundScheduler(
            timezone=timezone.utc, executors={"default": DispatchExecutor(self._on_fire)},
            job_defaults={"coalesce": False, "misfire_grace_time": None, "max_instances": 1})
        self.server: Optional[StatusServer] = None
        self.cluster: Optional[ClusterGate] = None  # set when replicas coordinate through Redis
        self._snapdir = Path(tempfile.mkdtemp(prefix="archiver-serve-"))
        self.snapshot = self._snapdir / "config.yaml"

    # -- config ---------------------------------------------------------------------------
    def _read_config(self) -> tuple[LoadedConfig, bytes]:
        try:
            data = self.config_path.read_bytes()
            text = data.decode("utf-8")
        except (OSError, UnicodeDecodeError):
            loaded = load_config(self.config_path)  # raises the one-line ConfigError for the same problem
            return loaded, self.config_path.read_bytes()
        return LoadedConfig(parse_config(text, file=str(self.config_path)), self.config_path), data

    def _write_snapshot(self, data: bytes) -> None:
        """Crawl processes read this copy of the last valid config, never a file being edited."""
        fd, tmp = tempfile.mkstemp(dir=self._snapdir, prefix=".config-")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, self.snapshot)

    def _configure(self, settings: Settings) -> None:
        sched = settings.scheduler
        self.settings = settings
        self.dispatcher.configure(policy=sched.misfire, grace_s=sched.misfire_grace_seconds)
        self.slots.resize(sched.max_concurrent_runs)

    def _reload(self, why: str) -> bool:
        try:
            loaded, data = self._read_config()
        except ConfigError as exc:
            self.metrics.reloads.labels("rejected").inc()
            log.error("config reload rejected (%s): %s; still running the previous config", why, mask(str(exc)),
                      extra={"event": "reload_rejected"})
            return False
        finally:
            if self.watcher:
                self.watcher.mark_loaded()
        self._write_snapshot(data)
        old_http = self.settings.scheduler.http if self.settings else None
        self._configure(loaded.settings)
        wanted = {s.name: s for s in loaded.settings.sources if s.enabled}
        with self._jobs_lock:
            removed = [n for n in self.sources if n not in wanted]
            added = [n for n in wanted if n not in self.sources]
            changed = [n for n in wanted if n in self.sources and _timing(self.sources[n]) != _timing(wanted[n])]
            for name in removed:
                self._remove_source(name)
            now = self.clock()
            for name in changed:
                self.sources[name] = wanted[name]
                old = self.schedules.get(name)
                if old is None:  # still being added: it picks up the new settings
                    continue
                anchor = old.anchor if isinstance(old, IntervalSchedule) else now
                schedule = self.schedules[name] = schedule_for(wanted[name], anchor=anchor)
                self.last_activity[name] = now
                if self.scheduler.get_job(name) is not None:  # else being added: it takes this schedule
                    self.scheduler.reschedule_job(name, trigger=schedule)
            self.sources.update(wanted)
        for name in added:
            self._spawn(self._add_source, wanted[name], False, name=f"add-{name}")
        self.metrics.reloads.labels("ok").inc()
        log.info("config reloaded (%s): %d source(s); added %s, removed %s, rescheduled %s", why, len(wanted),
                 ", ".join(added) or "none", ", ".join(removed) or "none", ", ".join(changed) or "none",
                 extra={"event": "reload", "added": added, "removed": removed, "rescheduled": changed})
        if old_http is not None and old_http != loaded.settings.scheduler.http and self.server is not None:
            log.warning("scheduler.http changed; the endpoint moves at the next restart")
        return True

    # -- sources and jobs -----------------------------------------------------------------
    def _store(self):
        return open_store(self.settings.storage)

    def _add_source(self, source: SourceSettings, run_now: bool) -> None:
        """Read the source's history, schedule it, and make up a run missed while we were down."""
        name, now = source.name, self.clock()
        last = success = None
        try:
            store = self._store()
            last = history.last_run(store, name)
            success = history.last_success(store, name) if last else None
        except (StoreError, OSError) as exc:
            log.warning("cannot read the run history of %s (%s); a run missed while stopped is not made up",
                        name, mask(str(exc)))
        since = history.started_at(last) if last else None
        with self._jobs_lock:
            if self.stopping.is_set() or name not in self.sources:
                return  # shutting down, or removed by a reload meanwhile
            source = self.sources[name]  # a reload may have changed it meanwhile
            anchor = since or now
            if self.cluster is not None and source.interval:  # replicas count intervals from one instant
                anchor = self.cluster.cluster.anchor(name, anchor)
            schedule = self.schedules[name] = schedule_for(source, anchor=anchor)
            self.last_activity[name] = now
            if last:
                self.last_outcome[name] = last.get("outcome")
            self.metrics.add_sources([name])
            self.metrics.remember(name, last_run=last, last_success=success)
        # the run at start (if any) is claimed before the schedule can fire, so a fire time
        # that comes at once finds it going instead of taking its place
        if run_now:
            self._source_due(name, Due.of([now]), "run-now")
        elif since is not None:
            due = due_between(schedule, since, now)
            if due is not None:
                log.info("%s: %d run(s) came due while the daemon was stopped (last run started %s)",
                         name, due.count, iso(since), extra={"event": "missed_while_stopped", "source": name})
                self._source_due(name, due, "catch-up")
        with self._jobs_lock:
            schedule = self.schedules.get(name)  # a reload may have changed or removed it meanwhile
            if schedule is not None and not self.stopping.is_set():
                self.scheduler.add_job(_never_called, trigger=schedule, id=name, name=name, replace_existing=True)

    def _remove_source(self, name: str) -> None:
        self.sources.pop(name, None)
        self.schedules.pop(name, None)
        try:
            self.scheduler.remove_job(name)
        except Exception:  # noqa: BLE001 - already gone
            pass
        self.metrics.remove_source(name)

    # -- fire times in, runs out ------------------------------------------------------------
    def _on_fire(self, job_id: str, run_times: list) -> None:
        """Called by APScheduler's thread: must not block."""
        if job_id == HEARTBEAT_ID:
            self.heartbeat = self.clock()
            return
        try:
            self._source_due(job_id, Due.of(run_times), "schedule")
        except Exception:  # noqa: BLE001 - one source's trouble must not stop the scheduler
            log.exception("could not dispatch %s", job_id)

    def _source_due(self, name: str, due: Due, trigger: str) -> None:
        source = self.sources.get(name)
        if source is None or self.stopping.is_set():
            return
        if not self._claim_fire(source, due, trigger):
            return  # another replica handles this fire time
        decision = self.dispatcher.due(name, due, trigger)
        now = self.clock()
        if decision.action != "start" and source.distributed and not self._handles_skip(source, decision, trigger):
            return  # another replica records this fire time
        if decision.action == "skip_missed":
            self.last_activity[name] = now
            self.metrics.runs.labels(name, "skipped").inc()
            self._record_skip(name, reason="missed", message=decision.plan.reason, trigger=trigger,
                              trigger_time=decision.plan.trigger_time, schedule=decision.plan.info)
        elif decision.action == "skip_running":
            self.metrics.runs.labels(name, "skipped").inc()
            self._skip_running(name, decision, now)
        else:
            if decision.plan.reason:  # several fire times at once; a warning when past the grace
                late = decision.plan.late_s > self.settings.scheduler.misfire_grace_seconds
                log.log(logging.WARNING if late else logging.INFO, "%s: %s", name, decision.plan.reason,
                        extra={"event": "misfire", "source": name})
            self.last_activity[name] = now
            self._spawn(self._run, source, decision, name=f"run-{name}")

    def _fire(self, name: str, trigger_time: Optional[datetime]) -> Optional[datetime]:
        """The un-jittered fire time every replica names the same way."""
        schedule = self.schedules.get(name)
        if trigger_time is None or schedule is None:
            return trigger_time
        return schedule.base_at_or_before(trigger_time) or trigger_time

    def _claim_fire(self, source: SourceSettings, due: Due, trigger: str) -> bool:
        """With other replicas: handle this fire time here? (a distributed source: every replica joins)"""
        if self.cluster is None or source.distributed:
            return True
        try:
            return self.cluster.claims(source, trigger, self._fire(source.name, due.last))
        except CoordinationError as exc:
            log.error("not running %s: cannot reach Redis to agree with the other replicas (%s)", source.name, exc,
                      extra={"event": "coordination_error", "source": source.name})
            return False

    def _handles_skip(self, source: SourceSettings, decision: Decision, trigger: str) -> bool:
        if self.cluster is None:
            return True
        try:
            return self.cluster.handles_skip(source, trigger, self._fire(source.name, decision.plan.trigger_time))
        except CoordinationError as exc:
            log.error("cannot reach Redis to agree on %s (%s); recording the skip here", source.name, exc)
            return True

    def _skip_running(self, name: str, decision: Decision, now: datetime) -> None:
        blocking = decision.active
        what = f"run {blocking.run_id}" if blocking.run_id else "run (waiting for a free slot)"
        message = f"the previous {what} of this source is still going"
        if decision.first_skip:
            run_id = keys.new_run_id(now, secrets.token_hex(3))
            self.dispatcher.note_skip_record(name, run_id)
            self._record_skip(name, reason="running", message=message, trigger=decision.trigger,
                              trigger_time=decision.plan.trigger_time, run_id=run_id, at=now,
                              details={"blocking_run_id": blocking.run_id, "skipped": 1})
        else:
            log.info("run skipped: %s (%d fire times skipped during it)", message, blocking.skips,
                     extra={"event": "run_skipped", "source": name, "reason": "running",
                            "trigger_time": iso(decision.plan.trigger_time)})

    def _record_skip(self, name: str, **kw) -> None:
        storage = self.settings.storage

        def work():
            try:
                record_skipped(storage, name, **kw)
            except Exception:  # noqa: BLE001
                log.exception("could not record a skipped run of %s", name)
        self.recorder.submit(work)

    def _run(self, source: SourceSettings, decision: Decision) -> None:
        name = source.name
        ticket = None
        try:
            if not self.slots.acquire(self.stopping):
                log.info("run of %s not started: shutting down", name)
                return
            try:
                plan = self.dispatcher.recheck(name)
                if not plan.run:
                    self.metrics.runs.labels(name, "skipped").inc()
                    self._record_skip(name, reason="missed", message=plan.reason + " (waited for a free slot)",
                                      trigger=decision.trigger, trigger_time=plan.trigger_time, schedule=plan.info)
                    return
                if self.stopping.is_set():
                    return
                sched = self.settings.scheduler
                ticket = self._cluster_ticket(source, decision, plan)
                if ticket is not None and ticket.action != "run":
                    return
                self.metrics.in_progress.labels(name).set(1)
                result = run_source(
                    self.snapshot, source, self.settings.storage, trigger=decision.trigger,
                    trigger_time=plan.trigger_time, stop=self.stop_runs, stop_grace=sched.kill_after_seconds,
                    kill_grace=sched.kill_after_seconds, log_format=self.log_format, log_level=self.log_level,
                    on_start=lambda run_id, pid: self.dispatcher.started(name, run_id, pid),
                    schedule=plan.info, extra_env=ticket.env if ticket else None)
                self.last_outcome[name] = result.outcome
                self.metrics.observe(result.record)
            finally:
                self.metrics.in_progress.labels(name).set(0)
                self.slots.release()
                if ticket is not None:
                    self.cluster.end(ticket)
        except Exception:  # noqa: BLE001 - a failed run never takes the daemon down
            log.exception("run of %s failed in the daemon; the schedule goes on", name)
        finally:
            active = self.dispatcher.finished(name)
            self.last_activity[name] = self.clock()
            if active is not None:
                self._close_skips(name, active)

    def _cluster_ticket(self, source: SourceSettings, decision: Decision, plan):
        """Ask the other replicas (through Redis) whether this run is ours; None without coordination."""
        if self.cluster is None:
            return None
        name = source.name
        try:
            ticket = self.cluster.begin(source, decision.trigger, self._fire(name, plan.trigger_time))
        except CoordinationError as exc:
            log.error("not running %s: cannot reach Redis to agree with the other replicas (%s)", name, exc,
                      extra={"event": "coordination_error", "source": name})
            self.metrics.runs.labels(name, "skipped").inc()
            return _NotOurs("unreachable")
        if ticket.action == "elsewhere":
            log.info("%s: this fire time is handled by replica %s", name, ticket.by or "?",
                     extra={"event": "fire_elsewhere", "source": name, "replica": ticket.by})
        elif ticket.action == "over":
            log.info("%s: the distributed crawl of this fire time has already ended", name,
                     extra={"event": "crawl_over", "source": name})
        elif ticket.action == "running":
            holder = ticket.holder or {}
            self.metrics.runs.labels(name, "skipped").inc()
            self._record_skip(name, reason="running", trigger=decision.trigger, trigger_time=plan.trigger_time,
                              message=f"a run of this source is going on replica {holder.get('replica') or holder.get('holder', '?')}"
                                      f" ({holder.get('host', '?')}, since {holder.get('since', '?')})",
                              schedule=plan.info, details={"holder": holder})
        return ticket

    def _close_skips(self, name: str, active: Active) -> None:
        """Fire times skipped while this run went on share one record; give it the final count."""
        if active.skips > 1 and active.skip_run_id:
            self._record_skip(name, reason="running", run_id=active.skip_run_id, at=active.first_skip,
                              trigger="schedule", trigger_time=active.first_skipped_fire,
                              message=f"{active.skips} fire times skipped while run {active.run_id} was going",
                              details={"blocking_run_id": active.run_id, "skipped": active.skips,
                                       "first_skipped_at": iso(active.first_skip),
                                       "last_skipped_at": iso(active.last_skip)})

    def _spawn(self, target, *args, name: str) -> None:
        def body():
            try:
                target(*args)
            finally:
                with self._threads_lock:
                    self._threads.discard(threading.current_thread())
        thread = threading.Thread(target=body, name=name, daemon=True)
        with self._threads_lock:
            self._threads.add(thread)
        thread.start()

    def _live_threads(self) -> list[threading.Thread]:
        with self._threads_lock:
            return [t for t in self._threads if t.is_alive()]

    # -- health ------------------------------------------------------------------------------
    def scheduler_alive(self) -> bool:
        thread = getattr(self.scheduler, "_thread", None)
        return bool(self.scheduler.running and thread is not None and thread.is_alive())

    def health(self) -> HealthReport:
        now = self.clock()
        active = self.dispatcher.active()
        views = []
        with self._jobs_lock:
            for name, schedule in self.schedules.items():
                job = self.scheduler.get_job(name) if self.scheduler.running else None
                run = active.get(name)
                views.append(SourceView(name, schedule, self.last_activity.get(name, self.started_at),
                                        running=bool(run and run.running), waiting=bool(run and not run.running),
                                        next_fire=job.next_run_time if job else None,
                                        last_outcome=self.last_outcome.get(name)))
            starting = [name for name in self.sources if name not in self.schedules]
        heartbeat_age = (now - (self.heartbeat or self.started_at)).total_seconds()
        report = evaluate(now, views, factor=self.settings.scheduler.missed_factor if self.settings else 2.0,
                          scheduler_alive=self.scheduler_alive(), heartbeat_age_s=heartbeat_age,
                          stopping=self.stopping.is_set())
        for name in starting:  # reading its run history before it is scheduled
            report.sources[name] = {"state": "starting"}
        return report

    def _health_json(self) -> tuple[bool, dict]:
        report = self.health()
        body = report.to_json()
        body.update(version=__version__, pid=os.getpid(), started_at=iso(self.started_at),
                    running={n: {"run_id": a.run_id, "pid": a.pid, "started_at": iso(a.started_at),
                                 "trigger": a.trigger}
                             for n, a in self.dispatcher.active().items()})
        return report.ok, body

    def _refresh_gauges(self) -> None:
        report = self.health()
        self.metrics.scheduler_up.set(1 if self.scheduler_alive() else 0)
        for name, info in report.sources.items():
            self.metrics.overdue.labels(name).set(1 if info["state"] == "overdue" else 0)
            job = self.scheduler.get_job(name) if self.scheduler.running else None
            self.metrics.set_next(name, job.next_run_time if job else None)

    # -- lifecycle ---------------------------------------------------------------------------
    def _on_signal(self, signum, frame) -> None:
        if signum == signal.SIGHUP:
            self._hup = True
        else:
            self._signals += 1
            self.stopping.set()
            if self._signals > 1:
                self.stop_runs.set()
        self._wake.set()

    def _check_store(self) -> None:
        try:
            self._store().check(write=True)
        except StoreError as exc:
            if exc.fatal:
                raise  # wrong credentials, no bucket: a user mistake, exit 3
            log.warning("the store is not reachable now (%s); runs retry and spool until it is", mask(str(exc)))

    def _open_cluster(self, settings: Settings) -> None:
        cluster = open_cluster(settings.coordination)  # Redis unreachable or refusing: exit 4, one line
        if cluster is not None:
            self.cluster = ClusterGate(cluster)
            log.info("coordinating with other replicas through %s as %s", settings.coordination.describe(),
                     cluster.replica, extra={"event": "cluster_join", "replica": cluster.replica})

    def _start_http(self) -> None:
        http = self.settings.scheduler.http
        enabled = self.http_enabled if self.http_enabled is not None else http.enabled
        if not enabled:
            return
        host, port = self.listen or (http.host, http.port)
        self.server = StatusServer(host, port, health=self._health_json, metrics=self.metrics.exposition,
                                   metrics_type=self.metrics.content_type).start()

    def run(self) -> int:
        try:
            loaded, data = self._read_config()
            self._write_snapshot(data)
            self._configure(loaded.settings)
            if self.create_bucket:
                ensure_bucket(loaded.settings.storage, wait_s=self.store_wait_s)
            self._check_store()
            self._open_cluster(loaded.settings)
            enabled = [s for s in loaded.settings.sources if s.enabled]
            for source in enabled:  # known from the first answer of /healthz (as "starting")
                self.sources[source.name] = source
            self._start_http()
        except BaseException:
            shutil.rmtree(self._snapdir, ignore_errors=True)
            raise
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, self._on_signal)
        self.scheduler.start()
        self.scheduler.add_job(_never_called, trigger=IntervalSchedule(HEARTBEAT_EVERY, self.clock()),
                               id=HEARTBEAT_ID, name="heartbeat", next_run_time=self.clock())
        log.info("archiver serve started: %d source(s), config %s", len(enabled), self.config_path,
                 extra={"event": "serve_start", "sources": [s.name for s in enabled], "pid": os.getpid(),
                        "version": __version__})
        for source in enabled:
            self._spawn(self._add_source, source, self.run_now, name=f"add-{source.name}")
        next_reload_poll = next_refresh = time.monotonic()
        try:
            while not self.stopping.is_set():
                self._wake.wait(self.poll_s)
                self._wake.clear()
                if self._hup:
                    self._hup = False
                    self._reload("SIGHUP")
                if self.watcher and time.monotonic() >= next_reload_poll:
                    next_reload_poll = time.monotonic() + self.reload_poll_s
                    if self.watcher.poll():
                        self._reload("file changed")
                if time.monotonic() >= next_refresh:
                    next_refresh = time.monotonic() + 1.0
                    self._refresh_gauges()
        finally:
            self._shutdown()
        return 0

    def _shutdown(self) -> None:
        self.stopping.set()
        self.slots.wake()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        sched = self.settings.scheduler
        running = {n: a for n, a in self.dispatcher.active().items() if a.running}
        if running:
            log.info("stopping: no new runs; waiting up to %gs for %d running crawl(s): %s",
                     sched.stop_grace_seconds, len(running), ", ".join(sorted(running)),
                     extra={"event": "serve_stopping", "running": sorted(running)})
        else:
            log.info("stopping: no runs in progress", extra={"event": "serve_stopping", "running": []})
        deadline = time.monotonic() + sched.stop_grace_seconds
        while self._live_threads() and time.monotonic() < deadline and not self.stop_runs.is_set():
            self._wake.wait(0.1)
            self._wake.clear()
        if self._live_threads():
            left = sorted(self.dispatcher.active())
            if left:
                log.warning("stopping %d crawl(s) still going: %s", len(left), ", ".join(left),
                            extra={"event": "runs_interrupted", "sources": left})
            self.stop_runs.set()
            self.slots.wake()
            deadline = time.monotonic() + sched.kill_after_seconds + 15
            for thread in self._live_threads():
                thread.join(max(0.1, deadline - time.monotonic()))
        self.recorder.shutdown(wait=True)
        if self.server is not None:
            self.server.stop()
        shutil.rmtree(self._snapdir, ignore_errors=True)
        log.info("stopped", extra={"event": "serve_stop"})


class _NotOurs:
    """A run the cluster could not agree on: not started."""

    env: dict = {}
    start = None

    def __init__(self, action: str):
        self.action = action
