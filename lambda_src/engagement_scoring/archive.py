"""The events archive: its layout, a local stand-in writer, its SQL, and the two engines that read it.

On AWS (archive.tf, input create_archive) a Firehose delivery stream reads the Kinesis stream and writes
every record as it arrived, one per line (Firehose's AppendDelimiterToRecord processor), into GZIP objects
under `events/dt=YYYY-MM-DD/` (the UTC day Firehose received the record); a Glue table (one string column
`line`, partition `dt` by projection) and an Athena workgroup read it. Firehose does not run here, so
`LocalArchive` writes the same layout into a directory (the simulator's `--archive-dir`), and DuckDB reads
it with the same SQL (sql/*.sql).

Athena's and DuckDB's SQL differ in a few function names. The queries are written in Athena's dialect and
DuckDB gets those functions as macros (`DUCKDB_MACROS`), so the same text runs on both; the only other
difference is the table the template's `${source}` names.

Not used by the Lambda functions (it ships in their zip because lambda_src/ is zipped whole; duckdb is a
dev/test dependency and is imported only here, when a DuckDB session is opened).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import gzip
import json
import re
import time
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from engagement_scoring.core.machine import (
    BURST,
    DEFAULT_POLICY,
    PRIVACY_PROXY_OPEN,
    SCANNER_LIST,
    SEND_TIME_PROXIMITY,
    MachinePolicy,
)

# The layout Firehose writes (archive.tf: prefix and error_output_prefix).
EVENTS_PREFIX = "events/"
PARTITION = "dt"
PARTITION_FORMAT = "%Y-%m-%d"
# The queries' files (the repository's sql/, read by archive.tf too).
SQL_DIR = Path(__file__).resolve().parents[2] / "sql"
QUERIES = ("user_history", "top_users", "campaign_engagement", "rescoring")
SHARED_PART = "archive_events"
# The DuckDB view standing in for the Glue table.
LOCAL_SOURCE = "archive_events_table"

# Athena (Trino) functions the queries use that DuckDB lacks or names differently. json_extract_scalar is
# NULL for invalid JSON in Athena; DuckDB's json_extract_string raises, hence try(). A key that needs
# quoting (`-`: the tags) is `["key"]` in Trino's JSON paths and `."key"` in DuckDB's: the macro rewrites it.
DUCKDB_MACROS = (
    "CREATE OR REPLACE MACRO json_extract_scalar(j, p) AS "
    r"""try(json_extract_string(j, regexp_replace(p, '\["([^"]*)"\]', '."\1"', 'g')))""",
    "CREATE OR REPLACE MACRO json_format(j) AS CAST(j AS VARCHAR)",
    "CREATE OR REPLACE MACRO regexp_like(s, p) AS coalesce(regexp_matches(s, p), false)",
    "CREATE OR REPLACE MACRO from_iso8601_timestamp(s) AS CAST(s AS TIMESTAMPTZ)",
    "CREATE OR REPLACE MACRO from_unixtime(x) AS to_timestamp(x)",
)


def partition_of(arrival_ms: int) -> str:
    """`dt=YYYY-MM-DD` of a record Firehose received at `arrival_ms` (UTC)."""
    day = dt.datetime.fromtimestamp(arrival_ms / 1000, tz=dt.UTC).strftime(PARTITION_FORMAT)
    return f"{PARTITION}={day}"


@dataclass(slots=True)
class LocalArchive:
    """Writes records into `root` in the archive's layout: `events/dt=YYYY-MM-DD/<name>-1-<time>-<n>.gz`,
    each object the GZIP of its records' bytes, each followed by a newline (as Firehose with
    AppendDelimiterToRecord writes them: the bytes as they arrived, CloudWatch Logs gzip data included)."""

    root: Path
    name: str = "local-archive"
    objects_written: int = 0
    records_written: int = 0
    # Records the SMS event-log route could not read (write_local_archive).
    records_failed: int = 0
    _sequence: int = field(default=0, repr=False)

    def write(self, records: Iterable[bytes], arrival_ms: int | Sequence[int] | None = None) -> list[Path]:
        """One object per partition: all `records` received at `arrival_ms` (now when None), or at
        `arrival_ms[i]` for record i."""
        records = list(records)
        if arrival_ms is None:
            arrival_ms = int(time.time() * 1000)
        arrivals = [arrival_ms] * len(records) if isinstance(arrival_ms, int) else list(arrival_ms)
        if len(arrivals) != len(records):
            raise ValueError("one arrival time per record")
        by_partition: dict[str, list[bytes]] = {}
        newest: dict[str, int] = {}
        for data, received in zip(records, arrivals, strict=True):
            partition = partition_of(received)
            by_partition.setdefault(partition, []).append(data)
            newest[partition] = max(newest.get(partition, received), received)
        written = []
        for partition, chunk in sorted(by_partition.items()):
            self._sequence += 1
            stamp = dt.datetime.fromtimestamp(newest[partition] / 1000, tz=dt.UTC).strftime(
                "%Y-%m-%d-%H-%M-%S"
            )
            path = self.root / EVENTS_PREFIX / partition / f"{self.name}-1-{stamp}-{self._sequence:08d}.gz"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(gzip.compress(b"".join(data + b"\n" for data in chunk), mtime=0))
            written.append(path)
            self.objects_written += 1
            self.records_written += len(chunk)
        return written


# The SMS event-log route's delivery stream (archive.tf, aws_kinesis_firehose_delivery_stream.
# archive_sms_logs) names its objects `<name_prefix>-sms-archive-1-...`; the local stand-in's are named so.
SMS_LOGS_OBJECT_NAME = "local-sms-archive"


class NotASubscriptionRecord(ValueError):
    """A record Firehose's Decompression / CloudWatchLogProcessing processors cannot read (on AWS it goes to
    errors/ as processing-failed or decompression-failed)."""


def extract_log_messages(data: bytes) -> list[bytes]:
    """What the SMS event-log route's delivery stream makes of one CloudWatch Logs subscription record: its
    Decompression processor (GZIP) gunzips it, CloudWatchLogProcessing (DataMessageExtraction) keeps only each
    log event's `message`, the bare SMS event record as End User Messaging logged it (UTF-8), in order; no
    envelope (owner, log group, stream, ids, timestamps) is kept. A CONTROL_MESSAGE's message is text, not
    JSON: the SQL gives it no row. Raises NotASubscriptionRecord for anything else."""
    try:
        envelope = json.loads(gzip.decompress(data))
    except (OSError, EOFError, zlib.error, UnicodeDecodeError, ValueError) as error:
        raise NotASubscriptionRecord(f"not gzip JSON: {error}") from None
    events = envelope.get("logEvents") if isinstance(envelope, dict) else None
    if not isinstance(events, list):
        raise NotASubscriptionRecord("no logEvents list")
    messages = []
    for event in events:
        message = event.get("message") if isinstance(event, dict) else None
        if not isinstance(message, str):
            raise NotASubscriptionRecord("a log event without a message")
        messages.append(message.encode())
    return messages


def write_local_archive(
    root: Path,
    records: Sequence[bytes],
    sms_log_records: Sequence[bytes] = (),
    arrival_ms: int | None = None,
) -> tuple[LocalArchive, LocalArchive]:
    """The local stand-in for both delivery streams: `records` as the Kinesis route's stream writes them (as
    they arrived), and the messages of `sms_log_records` (CloudWatch Logs subscription records of the
    module's SMS event log group) as the SMS event-log route's stream writes them, one a line, in objects of
    their own (`local-sms-archive-...`). A record that is no subscription record is not written (Firehose's
    errors/ on AWS) and raises nothing: it is counted in the second archive's `records_failed`."""
    kinesis_route = LocalArchive(Path(root))
    sms_route = LocalArchive(Path(root), name=SMS_LOGS_OBJECT_NAME)
    if records:
        kinesis_route.write(records, arrival_ms)
    lines: list[bytes] = []
    for data in sms_log_records:
        try:
            lines.extend(extract_log_messages(data))
        except NotASubscriptionRecord:
            sms_route.records_failed += 1
    if lines:
        sms_route.write(lines, arrival_ms)
    return kinesis_route, sms_route


# ---- reading a local archive back ----------------------------------------------------------------------

GZIP_MAGIC = b"\x1f\x8b"
# A line that is the base64 text of gzip data starts so ("\x1f\x8b\x08" encoded).
BASE64_GZIP_PREFIX = b"H4sI"


def split_records(content: bytes) -> Iterator[bytes]:
    """The records of one archive object's (inflated) content, as the stream carried them.

    Each record is followed by a newline; a CloudWatch Logs subscription record is gzip data that may
    itself hold newline bytes, so a record that starts with the gzip magic is one whole gzip member
    (read to its end) and then the newline; any other record is the text up to the next newline. A line
    that is base64 text of gzip data (a record stored as Lambda's event shows it) is returned decoded."""
    position, size = 0, len(content)
    while position < size:
        if content.startswith(GZIP_MAGIC, position):
            inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
            try:
                inflater.decompress(memoryview(content)[position:])
                whole = inflater.eof
            except zlib.error:
                whole = False
            if whole:
                end = size - len(inflater.unused_data)
                yield content[position:end]
                position = end + 1 if content.startswith(b"\n", end) else end
                continue
        end = content.find(b"\n", position)
        end = size if end < 0 else end
        line = content[position:end]
        position = end + 1
        if line.startswith(BASE64_GZIP_PREFIX):
            try:
                decoded = base64.b64decode(line, validate=True)
            except (binascii.Error, ValueError):
                decoded = b""
            if decoded.startswith(GZIP_MAGIC):
                line = decoded
        yield line


def local_records(archive_dir: Path) -> Iterator[tuple[bytes, str]]:
    """Every record of a local archive with its partition (`YYYY-MM-DD`), in archive order (partitions,
    then objects, in name order; records in the order they were written), gzip records included."""
    root = Path(archive_dir) / EVENTS_PREFIX
    for path in sorted(root.glob(f"{PARTITION}=*/*.gz")):
        day = path.parent.name.partition("=")[2]
        for data in split_records(gzip.decompress(path.read_bytes())):
            yield data, day


# ---- the SQL ----------------------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"\$\{([a-z_]+)\}")


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _number(value: Any) -> str:
    """A number as Terraform's format("%v") prints it: integers without a point."""
    number = Decimal(str(value))
    if number == number.to_integral_value():
        return str(int(number))
    return format(number.normalize(), "f")


def rules_values(rules: Iterable[Mapping[str, Any]]) -> str:
    """The VALUES rows of the `rules` CTE, from score_rules items (as archive.tf renders them)."""
    rows = []
    for rule in rules:
        channel = rule.get("channel")
        rows.append(
            "("
            + ", ".join(
                [
                    _sql_string(str(rule["event_type"])),
                    f"CAST({_number(rule['points'])} AS double)",
                    _sql_string(channel) if channel else "CAST(NULL AS varchar)",
                    "true" if rule.get("once_per_message") else "false",
                ]
            )
            + ")"
        )
    return ", ".join(rows)


def tiers_select(tiers: Iterable[Mapping[str, Any]]) -> str:
    """The `tiers` CTE's query: (name, min_score) rows, none without tiers."""
    rows = [f"({_sql_string(str(t['name']))}, CAST({_number(t['min_score'])} AS double))" for t in tiers]
    if not rows:
        return "SELECT CAST(NULL AS varchar) AS name, CAST(NULL AS double) AS min_score WHERE false"
    return f"SELECT * FROM (VALUES {', '.join(rows)}) AS t (name, min_score)"


def _ipv4_ranges(networks: Iterable[Any]) -> str:
    """The SQL test of `u.ip4` (the event's IPv4 address as a number) against the IPv4 blocks of
    `networks`; IPv6 blocks are not matched in SQL."""
    ranges = [
        f"u.ip4 BETWEEN {int(network.network_address)} AND {int(network.broadcast_address)}"
        for network in networks
        if network.version == 4
    ]
    return f"({' OR '.join(ranges)})" if ranges else "false"


def machine_variables(policy: MachinePolicy) -> dict[str, str]:
    """The machine-engagement template variables of sql/archive_events.sql, as machine_engagement.tf
    renders them from the module's `machine_engagement` input (the weights, the bounds, and the lists as
    SQL tests on `u.ua`, the user agent, and `u.ip4`)."""
    proxy = sorted(policy.proxy_user_agents)
    scanner = policy.scanner_user_agents  # lower case already (parse_policy)
    return {
        "weight_privacy_proxy_open": _number(policy.weights[PRIVACY_PROXY_OPEN]),
        "weight_send_time_proximity": _number(policy.weights[SEND_TIME_PROXIMITY]),
        "weight_scanner_list": _number(policy.weights[SCANNER_LIST]),
        "weight_burst": _number(policy.weights[BURST]),
        "send_time_proximity_ms": str(policy.send_time_proximity_ms),
        "burst_window_ms": str(policy.burst_window_ms),
        "burst_min_links": str(policy.burst_min_links),
        "proxy_user_agent_match": (
            f"trim(u.ua) IN ({', '.join(_sql_string(text) for text in proxy)})" if proxy else "false"
        ),
        "scanner_user_agent_match": (
            "(" + " OR ".join(f"strpos(lower(u.ua), {_sql_string(text)}) > 0" for text in scanner) + ")"
            if scanner
            else "false"
        ),
        "proxy_cidr_match": _ipv4_ranges(policy.proxy_networks),
        "scanner_cidr_match": _ipv4_ranges(policy.scanner_networks),
    }


# SES tag names / SMS `context` keys (variables.tf: user_key_tag, campaign_tag): safe in a quoted JSON path.
TAG_NAME = re.compile(r"[A-Za-z0-9_-]{1,256}")

PINPOINT_USER_KEYS = {
    "auto": "coalesce(pinpoint_user_id, pinpoint_client_id)",
    "endpoint_id": "pinpoint_client_id",
    "user_id": "pinpoint_user_id",
}


@dataclass(frozen=True, slots=True)
class QuerySettings:
    """What the queries are rendered with: the module's scoring inputs and the table to read."""

    source: str
    rules: tuple[Mapping[str, Any], ...]
    half_life_hours: float = 0
    score_floor: float | None = None
    score_ceiling: float | None = None
    tiers: tuple[Mapping[str, Any], ...] = ()
    user_key_mode: str = "auto"
    user_key_tag: str = "user_key"
    campaign_tag: str = "campaign"
    # The module's machine_engagement input (parsed as the scorer parses MACHINE_ENGAGEMENT).
    machine: MachinePolicy = DEFAULT_POLICY

    def variables(self) -> dict[str, str]:
        for tag in (self.user_key_tag, self.campaign_tag):
            if not TAG_NAME.fullmatch(tag):
                raise ValueError(f"tag name {tag!r}: 1-256 letters, digits, '_' or '-'")

        def bound(value: float | None) -> str:
            return "NULL" if value is None else _number(value)

        return {
            "source": self.source,
            "rules": rules_values(self.rules),
            "half_life_ms": _number(Decimal(str(self.half_life_hours)) * 3_600_000),
            "score_floor": bound(self.score_floor),
            "score_ceiling": bound(self.score_ceiling),
            "tiers": tiers_select(self.tiers),
            "pinpoint_user_key": PINPOINT_USER_KEYS[self.user_key_mode],
            "user_key_tag": self.user_key_tag,
            "campaign_tag": self.campaign_tag,
            **machine_variables(self.machine),
        }


def _render(template: str, variables: Mapping[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in variables:
            raise KeyError(f"no value for ${{{name}}}")
        return variables[name]

    return _PLACEHOLDER.sub(replace, template)


def render_query(name: str, settings: QuerySettings, sql_dir: Path = SQL_DIR) -> str:
    """sql/<name>.sql with its placeholders filled, as archive.tf's templatefile() renders it."""
    if name not in QUERIES:
        raise ValueError(f"unknown query {name!r}: one of {', '.join(QUERIES)}")
    variables = settings.variables()
    shared = _render((sql_dir / f"{SHARED_PART}.sql").read_text(), variables)
    return _render((sql_dir / f"{name}.sql").read_text(), {**variables, SHARED_PART: shared})


# ---- DuckDB over a local archive ----------------------------------------------------------------------


def duckdb_connect(archive_dir: Path) -> Any:
    """A DuckDB connection with Athena's functions as macros and the view `archive_events_table`
    (columns `line`, `dt`) over the archive's objects, as the Glue table reads them."""
    import duckdb

    connection = duckdb.connect()
    for macro in DUCKDB_MACROS:
        connection.execute(macro)
    pattern = str(Path(archive_dir) / EVENTS_PREFIX / f"{PARTITION}=*" / "*.gz")
    if not any((Path(archive_dir) / EVENTS_PREFIX).glob(f"{PARTITION}=*/*.gz")):
        # A table, not a constant-false view: DuckDB 1.5.6 fails internally planning the queries over one.
        connection.execute(f"CREATE TABLE {LOCAL_SOURCE} (line VARCHAR, dt VARCHAR)")
        return connection
    # One VARCHAR column per line (delimiter \x01, no quoting), as the Glue table's LazySimpleSerDe reads
    # it; lines that are not UTF-8 (gzip data) are dropped, as Athena gives them no usable JSON either.
    connection.execute(
        f"CREATE VIEW {LOCAL_SOURCE} AS SELECT line, dt FROM read_csv({_sql_string(pattern)}, "
        "columns = {'line': 'VARCHAR'}, header = false, delim = '\x01', quote = '', escape = '', "
        "auto_detect = false, new_line = '\\n', strict_mode = false, "
        "hive_partitioning = true, hive_types = {'dt': 'VARCHAR'}, ignore_errors = true, "
        "compression = 'gzip')"
    )
    return connection


def run_duckdb(connection: Any, sql: str, parameters: Sequence[Any] = ()) -> list[dict[str, Any]]:
    result = connection.execute(sql, list(parameters))
    names = [column[0] for column in result.description]
    return [dict(zip(names, row, strict=True)) for row in result.fetchall()]


# ---- Athena ------------------------------------------------------------------------------------------


class AthenaQueryFailed(RuntimeError):
    pass


def run_athena(
    athena: Any,
    sql: str,
    workgroup: str,
    parameters: Sequence[str] = (),
    poll_s: float = 1.0,
    timeout_s: float = 600.0,
    sleep: Any = time.sleep,
) -> list[dict[str, Any]]:
    """Run one query in `workgroup` (its result location and encryption apply) and return its rows as
    strings by column name (Athena returns every value as text)."""
    request: dict[str, Any] = {"QueryString": sql, "WorkGroup": workgroup}
    if parameters:
        request["ExecutionParameters"] = [_sql_string(str(value)) for value in parameters]
    execution_id = athena.start_query_execution(**request)["QueryExecutionId"]
    waited = 0.0
    while True:
        status = athena.get_query_execution(QueryExecutionId=execution_id)["QueryExecution"]["Status"]
        state = status["State"]
        if state == "SUCCEEDED":
            break
        if state in ("FAILED", "CANCELLED"):
            raise AthenaQueryFailed(f"query {execution_id} {state}: {status.get('StateChangeReason', '')}")
        if waited >= timeout_s:
            raise AthenaQueryFailed(f"query {execution_id} still {state} after {timeout_s:.0f} s")
        sleep(poll_s)
        waited += poll_s
    return list(_athena_rows(athena, execution_id))


def _athena_rows(athena: Any, execution_id: str) -> Iterator[dict[str, Any]]:
    names: list[str] | None = None
    for page in athena.get_paginator("get_query_results").paginate(QueryExecutionId=execution_id):
        if names is None:
            names = [c["Name"] for c in page["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]]
            rows = page["ResultSet"]["Rows"][1:]  # the first row of the first page repeats the names
        else:
            rows = page["ResultSet"]["Rows"]
        for row in rows:
            yield {name: cell.get("VarCharValue") for name, cell in zip(names, row["Data"], strict=False)}


def dumps(rows: Iterable[Mapping[str, Any]]) -> str:
    return json.dumps(list(rows), default=str, indent=2)
