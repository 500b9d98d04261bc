"""`python -m simulator`: generate, run (against a fake deployment over moto), --json, replay, report."""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from simulator_support import CONTRACT_RECORDS, CONTRACT_USERS, FakeDeployment

from simulator.cli import (
    DEFAULT_ADVANCE_HOURS,
    DEFAULT_RUN_TF_VARS,
    Phases,
    advance_hours,
    build_parser,
    main,
    run_tf_vars,
    tf_vars_from,
    workload_config,
)
from simulator.population import PopulationConfig, build_population
from simulator.replay import read_events_file
from simulator.workload import WorkloadConfig, generate

EMAIL_PATTERN = re.compile(rb"[\w.+-]+@[\w-]+\.[\w.]+")
PHONE_PATTERN = re.compile(rb"\+\d{9,}")
SYNC_ON = {"PINPOINT_APPLICATION_ID": "app-under-test", "EVENT_BUS_NAME": "scores"}


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any], str]:
    code = main(["run", "--no-progress", "--json", *args])
    captured = capsys.readouterr()
    return code, json.loads(captured.out), captured.err


# ---- generate ------------------------------------------------------------------------------------


def test_generate_writes_one_record_per_line_and_replays_byte_for_byte(tmp_path: Path) -> None:
    output = tmp_path / "events.jsonl"
    args = [
        "--users",
        "100",
        "--events",
        "1500",
        "--seed",
        "3",
        "--duplicate-rate",
        "0.05",
        "--malformed-rate",
        "0.03",
    ]
    assert main(["generate", "--output", str(output), *args]) == 0
    expected = generate(
        WorkloadConfig(users=100, events=1500, seed=3, duplicate_rate=0.05, malformed_rate=0.03)
    ).records
    replayed = read_events_file(output)
    assert [r.data for r in replayed] == [r.data for r in expected]
    assert len(output.read_bytes().split(b"\n")) == len(expected) + 1  # one line each, final line break
    valid = [(r, e) for r, e in zip(replayed, expected, strict=True) if e.kind != "malformed"]
    assert all(r.partition_key == e.partition_key for r, e in valid)
    again = tmp_path / "again.jsonl"
    assert main(["generate", "--output", str(again), *args]) == 0
    assert again.read_bytes() == output.read_bytes()


def test_funnel_overrides_and_bad_options_are_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "x.jsonl"
    assert main(["generate", "--output", str(output), "--events", "10", "--funnel", "email_open=0.9"]) == 0
    assert main(["generate", "--output", str(output), "--funnel", "no_such_rate=0.1"]) == 2
    assert "no_such_rate" not in capsys.readouterr().out


def test_module_options_become_terraform_variables(tmp_path: Path) -> None:
    rules = tmp_path / "rules.json"
    rules.write_text('[{"event_type": "_email.open", "points": 5}]')
    args = build_parser().parse_args(
        [
            "run",
            "--decay-half-life-hours",
            "72",
            "--score-floor",
            "0",
            "--tiers",
            '[{"name": "a", "min_score": 0}]',
            "--user-key-mode",
            "user_id",
            "--score-rules",
            str(rules),
            "--tf-var",
            "scorer_batch_size=50",
            "--tf-var",
            "name_prefix=sim",
        ]
    )
    assert tf_vars_from(args) == {
        "decay_half_life_hours": 72.0,
        "score_floor": 0.0,
        "tiers": [{"name": "a", "min_score": 0}],
        "user_key_mode": "user_id",
        "score_rules": [{"event_type": "_email.open", "points": 5}],
        "scorer_batch_size": 50,
        "name_prefix": "sim",
    }


def test_run_deploys_decay_window_rules_and_attribution_and_advances_time_by_default() -> None:
    # given `run` with no module options
    args = build_parser().parse_args(["run"])
    # then it deploys decay and a sliding and a date-range window rule (so a refresher exists), and
    # campaign attribution (so the per-campaign table is compared too)
    tf_vars = run_tf_vars(args, "embedded")
    assert tf_vars["attribution_enabled"] is True
    assert tf_vars["decay_half_life_hours"] > 0
    rules = {rule["name"]: rule for rule in tf_vars["window_rules"]}
    assert any("window_hours" in rule for rule in rules.values())
    assert any("from" in rule and "to" in rule for rule in rules.values())
    # and advances the clock 30 days when the deployment has a refresher the simulator can run, not
    # without one
    assert advance_hours(args, {"refresher_function_name": "r"}, True) == DEFAULT_ADVANCE_HOURS == 720
    assert advance_hours(args, {}, True) is None
    assert advance_hours(args, {"refresher_function_name": "r"}, False) is None
    # and on LocalStack and AWS (the refresher's schedule there has the real clock) it adds nothing
    assert run_tf_vars(args, "localstack") == run_tf_vars(args, "aws") == {}
    # and each default gives way to the option naming it, --now and --no-advance drop the phase
    off = build_parser().parse_args(
        [
            *("run", "--decay-half-life-hours", "0", "--tf-var", "window_rules=[]"),
            *("--tf-var", "attribution_enabled=false", "--advance-hours", "2"),
        ]
    )
    assert run_tf_vars(off, "embedded") == {
        "attribution_enabled": False,
        "decay_half_life_hours": 0.0,
        "window_rules": [],
    }
    assert advance_hours(off, {}, False) == 2.0
    for flags in (["--now", "2025-12-01T00:00:00Z"], ["--no-advance"]):
        assert (
            advance_hours(build_parser().parse_args(["run", *flags]), {"refresher_function_name": "r"}, True)
            is None
        )
    # and its workload has campaign purchases, some with late touches, unless a --funnel says otherwise
    assert workload_config(args).successor_rates.campaign_purchase == 0.5
    assert workload_config(args).successor_rates.late_touch == 0.3
    rates = workload_config(
        build_parser().parse_args(["run", "--funnel", "campaign_purchase=0"])
    ).successor_rates
    assert (rates.campaign_purchase, rates.late_touch) == (0.0, 0.3)
    generated = build_parser().parse_args(["generate", "--output", "x.jsonl"])
    assert workload_config(generated).successor_rates.campaign_purchase == 0.0
    # and `deploy` and the plain option mapping carry no defaults
    assert tf_vars_from(args) == {}
    assert set(DEFAULT_RUN_TF_VARS) == {"attribution_enabled", "decay_half_life_hours", "window_rules"}


def test_phases_count_the_time_between_marks_to_each_phase() -> None:
    # given a clock read at 10, 12.5 and 13 s after a start at 9 s
    readings = iter([10.0, 12.5, 13.0])
    phases = Phases(started=9.0, clock=lambda: next(readings))
    # when three marks are made, one phase twice
    phases.mark("apply")
    phases.mark("drain")
    phases.mark("apply")
    # then each phase holds the time since the mark before it, a phase marked twice the sum, in order
    assert phases.seconds == {"apply": 1.5, "drain": 2.5} and list(phases.seconds) == ["apply", "drain"]


# ---- run -----------------------------------------------------------------------------------------


def test_run_json_prints_only_the_final_state_and_verifies_everything(
    fake_deployment: Callable[..., FakeDeployment], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    deployment = fake_deployment(sync_env=SYNC_ON)
    code, result, stderr = run_json(
        capsys,
        *("--users", "150", "--events", "2000", "--seed", "5", "--duplicate-rate", "0.05"),
        *("--malformed-rate", "0.02", "--report-dir", str(tmp_path / "report")),
        *("--formats", "successor,pinpoint"),
    )
    assert code == 0
    assert result["mismatches"] == 0
    assert result["events_sent"] == 2000 + 100 + 40
    assert result["users"] and set(result) >= {"users", "events_sent", "mismatches"}
    for key, state in result["users"].items():
        assert set(state) == {"score", "tier", "rules"}
        assert isinstance(state["score"], int | float) and state["tier"] in ("cold", "warm", "hot")
        assert state["rules"] == []  # no window rules configured
        assert isinstance(key, str)
    assert len(deployment.sent) == 2140
    assert "mismatches against the oracle: 0" in stderr
    # (`run` deployed its defaults: attribution, decay and the window rules, DEFAULT_RUN_TF_VARS)
    logged = " ".join(stderr.split())
    assert "with tf_vars ['attribution_enabled', 'decay_half_life_hours', 'window_rules']" in logged
    assert "pinpoint: " in stderr and "0 missing, 0 wrong, 0 unexpected" in stderr
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["verification"]["pinpoint"]["expected"] > 100
    assert (
        report["verification"]["eventbridge"]["ok"] == report["verification"]["eventbridge"]["expected"] > 100
    )
    assert report["users"]["count"] == len(result["users"])
    assert sum(report["users"]["per_tier"].values()) == len(result["users"])
    assert len(report["users"]["top"]) == 10
    assert (tmp_path / "report" / "scores_by_tier.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_run_exits_non_zero_when_the_engine_counts_duplicates(
    fake_deployment: Callable[..., FakeDeployment], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    fake_deployment(bug="count_duplicates")
    code, result, stderr = run_json(
        capsys,
        *("--users", "100", "--events", "1000", "--duplicate-rate", "0.1", "--report-dir", str(tmp_path)),
    )
    assert code == 1
    assert result["mismatches"] > 0
    assert re.search(r"mismatches against the oracle: [1-9]", stderr)
    details = json.loads((tmp_path / "report.json").read_text())["verification"]["details"]
    assert {d["field"] for d in details} >= {"score", "events_applied"}


def test_a_wrong_pinpoint_metric_is_a_mismatch(
    fake_deployment: Callable[..., FakeDeployment],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    deployment = fake_deployment(sync_env=SYNC_ON)
    drain = deployment.wait_until_drained

    def drain_then_corrupt(timeout_s: float) -> None:
        drain(timeout_s)
        first = sorted(deployment.endpoints)[0]
        deployment.endpoints[first]["Metrics"]["EngagementScore"] += 1

    monkeypatch.setattr(deployment, "wait_until_drained", drain_then_corrupt)
    code, result, _ = run_json(
        capsys, "--users", "80", "--events", "800", "--formats", "pinpoint", "--report-dir", str(tmp_path)
    )
    assert (code, result["mismatches"]) == (1, 1)
    assert json.loads((tmp_path / "report.json").read_text())["verification"]["pinpoint"]["wrong"] == 1


def test_customer_profiles_objects_are_checked_when_the_sink_is_on(
    fake_deployment: Callable[..., FakeDeployment],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    deployment = fake_deployment(sync_env={"CUSTOMER_PROFILES_DOMAIN": "scores"})
    code, result, stderr = run_json(capsys, "--users", "80", "--events", "800", "--report-dir", str(tmp_path))
    profiles = json.loads((tmp_path / "report.json").read_text())["verification"]["customer_profiles"]
    assert (code, result["mismatches"]) == (0, 0)
    assert profiles["checked"] is True and profiles["ok"] == profiles["expected"] > 30
    assert "customer_profiles: " in stderr
    # when the sink wrote one user's score wrong, that is one mismatch
    deployment = fake_deployment(sync_env={"CUSTOMER_PROFILES_DOMAIN": "scores"})
    drain = deployment.wait_until_drained

    def drain_then_corrupt(timeout_s: float) -> None:
        drain(timeout_s)
        deployment.profile_objects[sorted(deployment.profile_objects)[0]]["score"] += 1

    monkeypatch.setattr(deployment, "wait_until_drained", drain_then_corrupt)
    code, result, _ = run_json(capsys, "--users", "80", "--events", "800", "--report-dir", str(tmp_path))
    assert (code, result["mismatches"]) == (1, 1)


def test_sinks_that_are_switched_off_are_not_checked(
    fake_deployment: Callable[..., FakeDeployment], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    fake_deployment(sync_env={})
    code, result, stderr = run_json(capsys, "--users", "50", "--events", "300", "--report-dir", str(tmp_path))
    assert (code, result["mismatches"]) == (0, 0)
    assert "pinpoint: not checked (Pinpoint sink off)" in stderr


def test_decay_settings_from_the_scorer_are_applied_by_the_oracle(
    fake_deployment: Callable[..., FakeDeployment], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    env = {"DECAY_HALF_LIFE_HOURS": "48", "SCORE_FLOOR": "0", "SCORE_CEILING": "300", "TIERS": "[]"}
    fake_deployment(scorer_env=env)
    code, result, _ = run_json(capsys, "--users", "100", "--events", "1500", "--report-dir", str(tmp_path))
    assert (code, result["mismatches"]) == (0, 0)
    scores = [u["score"] for u in result["users"].values()]
    assert all(0 <= s <= 300 for s in scores) and any(isinstance(s, float) and s != int(s) for s in scores)
    assert all(u["tier"] is None for u in result["users"].values())


def test_window_rules_from_the_scorer_are_checked_and_reported_in_json(
    fake_deployment: Callable[..., FakeDeployment], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    rules = [
        {"name": "opened_twice", "event_types": ["_email.open"], "threshold": 2, "window_hours": 72},
        {"name": "mailed", "event_types": ["_email.send"], "threshold": 1},  # no score rule for sends
    ]
    fake_deployment(scorer_env={"WINDOW_RULES": json.dumps(rules)})
    code, result, _ = run_json(capsys, "--users", "100", "--events", "1500", "--report-dir", str(tmp_path))
    assert (code, result["mismatches"]) == (0, 0)
    matched = [u["rules"] for u in result["users"].values()]
    assert all(names == sorted(names) and set(names) <= {"opened_twice", "mailed"} for names in matched)
    assert any("opened_twice" in names for names in matched) and any("mailed" in names for names in matched)
    assert any(names == [] for names in matched)


def test_events_file_replay_sends_every_line_as_it_is_and_reports_every_score(
    fake_deployment: Callable[..., FakeDeployment], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # given a recorded file: records with scores worked out by hand, among lines that are no records
    deployment = fake_deployment()
    records = [data for _, data in CONTRACT_RECORDS]
    lines = [*records[:5], b"", b'{"event_type": "_email.open", "event_ti', *records[5:], b"[1, 2]"]
    events_file = tmp_path / "recorded.jsonl"
    events_file.write_bytes(b"\n".join(lines) + b"\n")
    # when it is replayed
    code, result, _ = run_json(capsys, "--events-file", str(events_file), "--report-dir", str(tmp_path / "r"))
    # then every line went into the stream as it is, and every user's score and tier is reported
    assert code == 0
    assert result["events_sent"] == len(lines)
    assert sorted(d for _, _, d in deployment.sent) == sorted(lines)
    assert result["users"] == {
        key: {"score": int(score), "tier": tier, "rules": []}
        for key, (score, tier, _, _) in CONTRACT_USERS.items()
    }
    # and nothing was compared (a recorded file has no oracle), so its 0 mismatches proves nothing
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["verification"] == {"oracle": False, "mismatches": 0}


# ---- no personal data in outputs -----------------------------------------------------------------


def test_no_address_phone_or_name_reaches_stdout_stderr_or_the_report(
    fake_deployment: Callable[..., FakeDeployment], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    fake_deployment(sync_env=SYNC_ON)
    code = main(["run", "--users", "120", "--events", "1500", "--seed", "9", "--report-dir", str(tmp_path)])
    captured = capsys.readouterr()
    assert code == 0
    # (the default workload has no Pinpoint records, so the Pinpoint sink has nothing to be checked on)
    assert "pinpoint: not checked (no Pinpoint records in this workload)" in captured.err
    outputs = [captured.out.encode(), captured.err.encode(), (tmp_path / "report.json").read_bytes()]
    population = build_population(PopulationConfig(users=120), 9)
    secrets = [e.address.encode() for u in population.users for e in u.endpoints]
    secrets += [u.last_name.encode() for u in population.users if len(u.last_name) > 5]
    for text in outputs:
        assert not EMAIL_PATTERN.search(text)
        assert not PHONE_PATTERN.search(text)
        assert not any(secret in text for secret in secrets)


MIXED = Path(__file__).resolve().parents[2] / "events" / "mixed" / "replay_mixed.jsonl"
# Worked out by hand from the samples with the original points: the SES click (50) and the EventBridge
# open (10; its redelivery counts 0) and one _SMS.SUCCESS for the SUCCESSFUL + DELIVERED pair (2) are
# example-user-1's; a custom purchase (100) is u-123's (the webinar has no rule); the Pinpoint session start
# (2) and the transactional Pinpoint open (10) are keyed by their client ids; the untagged bounce,
# AWS's own SMS EventBridge event and the STOP reply name no user key.
MIXED_SCORES = {
    "example-user-1": (62, "warm"),
    "u-123": (100, "warm"),
    "example-app-endpoint-7": (2, "cold"),
    "2d7cba1b-6b8e-4f2f-9c1a-7e4d8b0c5a11": (10, "cold"),
}


def test_a_file_mixing_formats_replays_each_user_on_its_own_key_and_reports_every_score(
    fake_deployment: Callable[..., FakeDeployment], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # given the mixed file: Pinpoint, SES bare and EventBridge-wrapped (twice), SMS in a CloudWatch Logs
    # document, custom events, and records without a user key
    records = read_events_file(MIXED)
    keys = [r.partition_key for r in records]
    # then each record is keyed by its user where the format has one, so one user's records keep order
    assert keys[:7] == ["example-app-endpoint-7", *["example-user-1"] * 4, "u-123", "u-123"]
    assert keys[10] == "2d7cba1b-6b8e-4f2f-9c1a-7e4d8b0c5a11"
    assert not any("@" in k or "+1" in k for k in keys)
    # and the CloudWatch Logs document goes into the stream gzip-compressed, as CloudWatch Logs puts it
    assert records[4].data[:2] == b"\x1f\x8b" and json.loads(gzip.decompress(records[4].data))["logEvents"]
    # when it is replayed with --json
    deployment = fake_deployment()
    code, result, _ = run_json(capsys, "--events-file", str(MIXED), "--report-dir", str(tmp_path))
    # then every line was sent and every user's score is reported
    assert code == 0 and result["events_sent"] == len(records) == 11 and len(deployment.sent) == 11
    assert result["users"] == {
        key: {"score": s, "tier": t, "rules": []} for key, (s, t) in MIXED_SCORES.items()
    }


def test_generate_writes_the_local_archive(tmp_path: Path) -> None:
    archive_dir = tmp_path / "archive"
    args = ["--users", "20", "--events", "200", "--seed", "5"]
    assert (
        main(["generate", "--output", str(tmp_path / "e.jsonl"), "--archive-dir", str(archive_dir), *args])
        == 0
    )
    config = WorkloadConfig(users=20, events=200, seed=5, duplicate_rate=0.02, malformed_rate=0.005)
    expected = [r.data for r in generate(config).records]
    objects = sorted(archive_dir.glob("events/dt=*/*.gz"))
    assert objects and all(re.fullmatch(r"dt=\d{4}-\d{2}-\d{2}", p.parent.name) for p in objects)
    written = b"".join(gzip.decompress(p.read_bytes()) for p in objects)
    assert written == b"".join(data + b"\n" for data in expected)
