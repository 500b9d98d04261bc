"""The capacity calculator against AWS's own worked examples; each test names the page it comes from.

Pages (read 2026-12-03):
ITEM_SIZES  https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html
READ_WRITE  https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html
            (the same examples were on ProvisionedThroughput.html before 2024)
PRICING     https://aws.amazon.com/dynamodb/pricing/on-demand/ ("Key terms")
TRANSACTION https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis.html
            ("Capacity management for transactions")
GSI         https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/GSI.html
            ("Write capacity units" of global secondary indexes)
PARTIQL     https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ql-reference.html
"""

from __future__ import annotations

import base64

import pytest

from benchmarks.capacity import (
    EVENTUAL,
    STRONG,
    TRANSACTIONAL,
    SecondaryIndex,
    UnsupportedRequest,
    gsi_write_units,
    item_size,
    number_size,
    parse_statement,
    read_units,
    read_units_per_item,
    read_units_summed,
    storage_size,
    value_size,
    write_units,
)

KB = 1024


def _item_of_size(size: int, key: str = "k") -> dict[str, dict[str, str]]:
    """An item of exactly `size` bytes: a one-letter key name plus a string filling the rest."""
    return {key: {"S": "x" * (size - len(key))}}


# ITEM_SIZES: the rules as the page states them (it gives them as formulas, not worked numbers).


def test_string_is_name_bytes_plus_utf8_bytes() -> None:
    assert item_size({"name": {"S": "héllo"}}) == 4 + 6  # é is two UTF-8 bytes
    assert item_size({"é": {"S": ""}}) == 2  # the name is UTF-8 bytes too


def test_number_is_one_byte_per_two_significant_digits_plus_one() -> None:
    # "Leading and trailing zeroes are trimmed": 0012300 has the significant digits 123.
    assert number_size("0012300") == 3
    assert number_size("1234.5") == 4  # 5 digits: 3 + 1
    assert number_size("-0.0001") == 2
    assert number_size("12345678901234567890123456789012345678") == 20  # 38 digits, the maximum
    assert item_size({"n": {"N": "100"}}) == 1 + 2


def test_binary_counts_raw_bytes_not_base64() -> None:
    raw = bytes(range(16))
    assert item_size({"b": {"B": raw}}) == 1 + 16
    assert value_size({"B": base64.b64encode(raw).decode()}) == 16  # as sent on the wire


def test_null_and_boolean_are_one_byte() -> None:
    assert item_size({"flag": {"BOOL": True}, "gone": {"NULL": True}}) == 4 + 1 + 4 + 1


def test_list_and_map_take_three_bytes_plus_one_per_element() -> None:
    assert item_size({"l": {"L": []}}) == 1 + 3  # "The size of an empty List or Map is name + 3 bytes"
    assert item_size({"m": {"M": {}}}) == 1 + 3
    # each element: 1 byte overhead + its size (a map entry's size includes its name)
    assert item_size({"l": {"L": [{"S": "ab"}, {"N": "7"}]}}) == 1 + 3 + (1 + 2) + (1 + 2)
    assert item_size({"m": {"M": {"ab": {"S": "cd"}}}}) == 1 + 3 + (1 + 2 + 2)
    nested = {"m": {"M": {"x": {"L": [{"BOOL": False}]}}}}
    assert item_size(nested) == 1 + 3 + (1 + 1 + (3 + (1 + 1)))


def test_sets_are_the_sum_of_their_elements() -> None:
    assert item_size({"ids": {"SS": ["a", "bcd"]}}) == 3 + 4
    assert item_size({"ns": {"NS": ["1", "22"]}}) == 2 + (2 + 2)
    assert item_size({"bs": {"BS": [b"\x00", b"\x01\x02"]}}) == 2 + 3


def test_storage_adds_100_bytes_per_item() -> None:
    assert storage_size({"k": {"S": "abc"}}) == 4 + 100
    assert storage_size(None) == 0


def test_unknown_types_are_rejected_not_guessed() -> None:
    with pytest.raises(ValueError):
        item_size({"x": {"Q": "?"}})
    with pytest.raises(ValueError):
        number_size("twelve")


# READ_WRITE and PRICING: reads.


def test_reads_round_up_to_4_kb() -> None:
    # "reading a 3,500-byte item consumes the same throughput as reading a 4 KB item"
    assert read_units(3500, STRONG) == read_units(4 * KB, STRONG) == 1
    # GetItem: "If you read an item of 10 KB, DynamoDB rounds the item size to 12 KB"
    assert read_units(10 * KB, STRONG) == 3


def test_an_8_kb_item_costs_2_strong_1_eventual_4_transactional() -> None:
    # PRICING and READ_WRITE: "a strongly consistent read request of an 8 KB item requires two read
    # request units, an eventually consistent read ... one ..., and a transactional read ... four"
    assert read_units(8 * KB, STRONG) == 2
    assert read_units(8 * KB, EVENTUAL) == 1
    assert read_units(8 * KB, TRANSACTIONAL) == 4


def test_batch_get_rounds_each_item_before_summing() -> None:
    # "if BatchGetItem reads a 1.5 KB item and a 6.5 KB item, DynamoDB calculates the size as 12 KB
    # (4 KB + 8 KB), not 8 KB (1.5 KB + 6.5 KB)"
    assert read_units_per_item([int(1.5 * KB), int(6.5 * KB)], STRONG) == 3
    assert read_units_summed([int(1.5 * KB), int(6.5 * KB)], STRONG) == 2  # what it is not


def test_query_sums_then_rounds_once() -> None:
    # "your query returns 10 items whose combined size is 40.8 KB. DynamoDB rounds ... to 44 KB"
    assert read_units_summed([int(4.08 * KB)] * 10, STRONG) == 11
    # "If a query returns 1500 items of 64 bytes each, the cumulative size is 96 KB"
    assert read_units_summed([64] * 1500, STRONG) == 24
    # "For an eventually consistent read, if the total item size is 80 KB, the operation consumes only
    # 10 capacity units"
    assert read_units_summed([8 * KB] * 10, EVENTUAL) == 10


def test_reading_a_missing_item_still_costs_the_minimum() -> None:
    # "A strongly consistent read request consumes one read capacity unit, while an eventually
    # consistent read request consumes 0.5 of a read capacity unit"
    assert read_units(0, STRONG) == 1
    assert read_units(0, EVENTUAL) == 0.5
    assert read_units_per_item([0, 0, 100], STRONG) == 3


# READ_WRITE, PRICING and TRANSACTION: writes.


def test_writes_round_up_to_1_kb() -> None:
    # "writing a 500-byte item consumes the same throughput as writing a 1 KB item"
    assert write_units(0, 500) == write_units(0, KB) == 1
    # "if you put or delete an item of 1.6 KB, DynamoDB rounds the item size up to 2 KB"
    assert write_units(0, int(1.6 * KB)) == 2
    assert write_units(int(1.6 * KB), 0) == 2  # DeleteItem: the deleted item's size


def test_standard_and_transactional_write_units_from_the_pricing_page() -> None:
    # "a standard write request of a 1 KB item would require one WRU, a standard write request of a 3 KB
    # item would require three WRUs, and a transactional write request of a 3 KB item would require six"
    assert write_units(0, KB) == 1
    assert write_units(0, 3 * KB) == 3
    assert write_units(0, 3 * KB, transactional=True) == 6


def test_update_costs_the_larger_of_before_and_after() -> None:
    # UpdateItem: "the larger of the 'before' and 'after' item sizes", even for a one-attribute change
    assert write_units(3 * KB, 100) == 3
    assert write_units(100, int(2.5 * KB)) == 3


def test_batch_write_rounds_each_item() -> None:
    # "if BatchWriteItem writes a 500 byte item and a 3.5 KB item, DynamoDB calculates the size as 5 KB
    # (1 KB + 4 KB), not 4 KB"
    assert write_units(0, 500) + write_units(0, int(3.5 * KB)) == 5


def test_failed_conditional_writes_are_charged() -> None:
    # "For a new item, DynamoDB consumes one write capacity unit"; "a failed conditional write of a 1 KB
    # item would consume one write capacity unit; if the item were twice that size, ... two"
    assert write_units(0, 0) == 1
    assert write_units(KB, KB) == 1
    assert write_units(2 * KB, 2 * KB) == 2


def test_a_transaction_of_three_500_byte_items_needs_six_units() -> None:
    # TRANSACTION: "each transaction writes three 500-byte items ... Each item requires two write capacity
    # units ... Therefore, you would need to provision six WCUs"
    assert sum(write_units(0, 500, transactional=True) for _ in range(3)) == 6


# GSI: index writes of one table write.

INDEX = SecondaryIndex("due", key_names=("due_sh", "due_at"), projection="KEYS_ONLY")
TABLE_KEYS = ("user_key",)


def _user(**attributes: str) -> dict[str, dict[str, str]]:
    item = {"user_key": {"S": "u-1"}}
    item.update(
        {name: {"N": value} if name == "due_at" else {"S": value} for name, value in attributes.items()}
    )
    return item


def test_an_index_entry_appearing_costs_one_write() -> None:
    # "If you write a new item to the table that defines an indexed attribute, or you update an existing
    # item to define a previously undefined indexed attribute, one write operation is required"
    assert gsi_write_units(None, _user(due_sh="3", due_at="100"), INDEX, TABLE_KEYS) == 1
    assert gsi_write_units(_user(), _user(due_sh="3", due_at="100"), INDEX, TABLE_KEYS) == 1


def test_an_index_key_change_costs_a_delete_and_a_put() -> None:
    # "If an update to the table changes the value of an indexed key attribute (from A to B), two writes
    # are required, one to delete the previous item from the index and another write to put the new item"
    before, after = _user(due_sh="3", due_at="100"), _user(due_sh="3", due_at="200")
    assert gsi_write_units(before, after, INDEX, TABLE_KEYS) == 2


def test_an_index_entry_disappearing_costs_one_delete() -> None:
    # "If an item was present in the index, but a write to the table caused the indexed attribute to be
    # deleted, one write is required to delete the old item projection from the index"
    assert gsi_write_units(_user(due_sh="3", due_at="100"), _user(), INDEX, TABLE_KEYS) == 1


def test_no_entry_before_or_after_costs_nothing() -> None:
    # "If an item is not present in the index before or after the item is updated, there is no
    # additional write cost for the index"
    assert gsi_write_units(_user(), _user(other="x"), INDEX, TABLE_KEYS) == 0


def test_only_projected_attributes_changing_costs_one_write() -> None:
    # "If an update to the table only changes the value of projected attributes in the index key schema,
    # but does not change the value of any indexed key attribute, one write is required"
    index = SecondaryIndex("due", ("due_sh", "due_at"), "INCLUDE", ("score",))
    before = {**_user(due_sh="3", due_at="100"), "score": {"N": "1"}}
    after = {**_user(due_sh="3", due_at="100"), "score": {"N": "2"}}
    assert gsi_write_units(before, after, index, TABLE_KEYS) == 1
    # an attribute the index does not project changes: the entry is the same, no index write
    unprojected = {**after, "note": {"S": "x"}}
    assert gsi_write_units(after, unprojected, index, TABLE_KEYS) == 0


def test_index_entries_over_1_kb_cost_more() -> None:
    # "Larger index entries require additional write capacity units"
    index = SecondaryIndex("all", ("due_sh",), "ALL")
    big = {**_user(due_sh="3"), "blob": {"S": "x" * 2000}}
    assert gsi_write_units(None, big, index, TABLE_KEYS) == 2


# PARTIQL: statements stand for the singular operations.


def test_partiql_statements_name_their_table_verb_and_key() -> None:
    update = parse_statement(
        'UPDATE "scores" SET score = ? WHERE "user_key" = ? AND version = ?',
        [{"N": "5"}, {"S": "u-1"}, {"N": "3"}],
    )
    assert (update.kind, update.verb, update.table) == ("write", "UPDATE", "scores")
    assert update.values == {"user_key": {"S": "u-1"}, "version": {"N": "3"}}
    select = parse_statement("SELECT * FROM scores WHERE user_key = 'u-''2'")
    assert (select.kind, select.table, select.values) == ("read", "scores", {"user_key": {"S": "u-'2"}})
    insert = parse_statement(
        "INSERT INTO \"ledger\" VALUE {'event_key': ?, 'expires_at': 17}", [{"S": "b#u"}]
    )
    assert insert.values == {"event_key": {"S": "b#u"}, "expires_at": {"N": "17"}}
    delete = parse_statement('DELETE FROM "ledger" WHERE event_key = ?', [{"S": "e#1"}])
    assert (delete.kind, delete.values) == ("write", {"event_key": {"S": "e#1"}})


def test_a_where_inside_a_string_literal_is_not_the_clause() -> None:
    statement = parse_statement("UPDATE t SET note = 'x WHERE y = 1' WHERE k = ?", [{"S": "a"}])
    assert statement.values == {"k": {"S": "a"}}


def test_statements_it_cannot_price_are_refused() -> None:
    with pytest.raises(UnsupportedRequest):
        parse_statement("SELECT * FROM scores")
    with pytest.raises(UnsupportedRequest):
        parse_statement("EXPLAIN something")
