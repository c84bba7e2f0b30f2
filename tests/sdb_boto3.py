#!/usr/bin/env python3
"""Drives sdb-local through boto3's SimpleDB client and checks the answers.

Usage: sdb_boto3.py ENDPOINT MODE [ARGS...]

Modes:
  all                 every operation, the Select grammar, paging, errors
  faults              operations against a server that fails requests; prints
                      {"operations": N} as the last line
  auth KEY SECRET     signed with the right keys works, wrong ones are refused

Exits non-zero with a message on the first failed check.
"""

import json
import sys

import boto3
import botocore.retries.standard
from botocore.config import Config
from botocore.exceptions import ClientError

ENDPOINT = sys.argv[1]
MODE = sys.argv[2]


def client(key="dummy", secret="dummy", **config):
    return boto3.client(
        "sdb",
        endpoint_url=ENDPOINT,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=Config(**config),
    )


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def eq(got, want, what=""):
    if got != want:
        raise AssertionError(f"{what}: got {got!r}, want {want!r}")


def error_of(call, *args, **kwargs):
    """The error code and HTTP status a call fails with."""
    try:
        call(*args, **kwargs)
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]
    raise AssertionError(f"{call.__name__} succeeded, an error was expected")


def qv(v):
    """A Select value, quoted the SimpleDB way."""
    return "'" + v.replace("'", "''") + "'"


def qn(n):
    """A Select name, quoted the SimpleDB way."""
    return "`" + n.replace("`", "``") + "`"


def as_dict(attributes):
    out = {}
    for a in attributes or []:
        out.setdefault(a["Name"], []).append(a["Value"])
    return {k: sorted(v) for k, v in out.items()}


def get(c, domain, item, names=None):
    kwargs = {"DomainName": domain, "ItemName": item, "ConsistentRead": True}
    if names:
        kwargs["AttributeNames"] = names
    return as_dict(c.get_attributes(**kwargs).get("Attributes"))


def attrs(pairs, replace=False):
    return [{"Name": n, "Value": v, "Replace": replace} for n, v in pairs]


def select_all(c, expression):
    """All items over every page, following NextToken by hand."""
    items, token, pages = [], None, 0
    while True:
        kwargs = {"SelectExpression": expression, "ConsistentRead": True}
        if token:
            kwargs["NextToken"] = token
        r = c.select(**kwargs)
        pages += 1
        items.extend(r.get("Items", []))
        token = r.get("NextToken")
        if not token:
            return items, pages


def names_of(c, expression):
    items, _ = select_all(c, expression)
    return sorted(i["Name"] for i in items)


def domains_and_metadata(c):
    for d in ["d-alpha", "d-beta", "d-gamma", "d-delta", "d-epsilon"]:
        c.create_domain(DomainName=d)
    c.create_domain(DomainName="d-alpha")  # creating twice is fine
    pages, token, seen = 0, None, []
    while True:
        kwargs = {"MaxNumberOfDomains": 2}
        if token:
            kwargs["NextToken"] = token
        r = c.list_domains(**kwargs)
        pages += 1
        check(len(r.get("DomainNames", [])) <= 2, "ListDomains honours MaxNumberOfDomains")
        seen.extend(r.get("DomainNames", []))
        token = r.get("NextToken")
        if not token:
            break
    eq(sorted(seen), sorted(["d-alpha", "d-beta", "d-gamma", "d-delta", "d-epsilon"]), "listed domains")
    check(pages >= 3, f"ListDomains paged ({pages} pages)")
    paginated = [d for p in c.get_paginator("list_domains").paginate(PaginationConfig={"PageSize": 2}) for d in p.get("DomainNames", [])]
    eq(sorted(paginated), sorted(seen), "paginator")
    eq(error_of(c.list_domains, MaxNumberOfDomains=101), ("InvalidParameterValue", 400), "MaxNumberOfDomains > 100")
    eq(error_of(c.list_domains, NextToken="!!"), ("InvalidNextToken", 400), "bad ListDomains token")
    eq(error_of(c.create_domain, DomainName="a b"), ("InvalidParameterValue", 400), "bad domain name")
    c.delete_domain(DomainName="d-epsilon")
    c.delete_domain(DomainName="d-epsilon")  # deleting twice is fine
    check("d-epsilon" not in c.list_domains()["DomainNames"], "deleted domain is gone")

    c.put_attributes(DomainName="d-alpha", ItemName="one", Attributes=attrs([("ab", "xyz"), ("ab", "q")]))
    c.put_attributes(DomainName="d-alpha", ItemName="second", Attributes=attrs([("ab", "1"), ("cde", "22")]))
    m = c.domain_metadata(DomainName="d-alpha")
    eq(
        (m["ItemCount"], m["ItemNamesSizeBytes"], m["AttributeNameCount"], m["AttributeNamesSizeBytes"],
         m["AttributeValueCount"], m["AttributeValuesSizeBytes"]),
        (2, 9, 2, 5, 4, 7),
        "DomainMetadata",
    )
    check(m["Timestamp"] > 1_600_000_000, "DomainMetadata timestamp")
    eq(error_of(c.domain_metadata, DomainName="nope-nope"), ("NoSuchDomain", 400), "metadata of a missing domain")


def puts_gets_deletes(c):
    d = "items"
    c.create_domain(DomainName=d)
    c.put_attributes(DomainName=d, ItemName="i", Attributes=attrs([("a", "1"), ("b", "2"), ("b", "3")]))
    eq(get(c, d, "i"), {"a": ["1"], "b": ["2", "3"]}, "multi-valued put")
    c.put_attributes(DomainName=d, ItemName="i", Attributes=attrs([("b", "4")], replace=True))
    eq(get(c, d, "i"), {"a": ["1"], "b": ["4"]}, "replace")
    c.put_attributes(DomainName=d, ItemName="i", Attributes=attrs([("a", "5")]))
    eq(get(c, d, "i"), {"a": ["1", "5"], "b": ["4"]}, "add without replace")
    c.put_attributes(DomainName=d, ItemName="i", Attributes=attrs([("a", "1")]))
    eq(get(c, d, "i"), {"a": ["1", "5"], "b": ["4"]}, "same pair twice is one pair")
    eq(get(c, d, "i", ["b", "zz"]), {"b": ["4"]}, "GetAttributes with AttributeName.N")
    eq(get(c, d, "missing"), {}, "missing item")

    c.delete_attributes(DomainName=d, ItemName="i", Attributes=[{"Name": "a", "Value": "5"}])
    eq(get(c, d, "i"), {"a": ["1"], "b": ["4"]}, "delete one value")
    # botocore's model wants a Value in every Attribute; SimpleDB takes a
    # name alone to delete all its values, so this call skips validation.
    loose = client(parameter_validation=False)
    loose.delete_attributes(DomainName=d, ItemName="i", Attributes=[{"Name": "b"}])
    eq(get(c, d, "i"), {"a": ["1"]}, "delete an attribute")
    c.delete_attributes(DomainName=d, ItemName="i")
    eq(get(c, d, "i"), {}, "delete the item")
    c.delete_attributes(DomainName=d, ItemName="never-there")

    # Batch put and delete.
    c.batch_put_attributes(DomainName=d, Items=[
        {"Name": f"b{i}", "Attributes": attrs([("n", str(i)), ("tag", "x"), ("tag", "y")])} for i in range(25)
    ])
    eq(len(names_of(c, f"select itemName() from {qn(d)} where tag = 'x'")), 25, "batch put")
    c.batch_put_attributes(DomainName=d, Items=[
        {"Name": "b0", "Attributes": attrs([("tag", "z")], replace=True)},
        {"Name": "b1", "Attributes": attrs([("tag", "w")])},
    ])
    eq(get(c, d, "b0"), {"n": ["0"], "tag": ["z"]}, "batch put replace")
    eq(get(c, d, "b1"), {"n": ["1"], "tag": ["w", "x", "y"]}, "batch put add")
    eq(
        error_of(c.batch_put_attributes, DomainName=d, Items=[
            {"Name": f"x{i}", "Attributes": attrs([("n", "1")])} for i in range(26)
        ]),
        ("NumberSubmittedItemsExceeded", 409),
        "26 items in a batch",
    )
    eq(
        error_of(c.batch_put_attributes, DomainName=d, Items=[
            {"Name": "dup", "Attributes": attrs([("n", "1")])},
            {"Name": "dup", "Attributes": attrs([("n", "2")])},
        ]),
        ("DuplicateItemName", 400),
        "duplicate item in a batch",
    )
    loose.batch_delete_attributes(DomainName=d, Items=[
        {"Name": "b1", "Attributes": [{"Name": "tag", "Value": "x"}]},
        {"Name": "b2", "Attributes": [{"Name": "tag"}]},
        {"Name": "b3"},
    ])
    eq(get(c, d, "b1"), {"n": ["1"], "tag": ["w", "y"]}, "batch delete value")
    eq(get(c, d, "b2"), {"n": ["2"]}, "batch delete attribute")
    eq(get(c, d, "b3"), {}, "batch delete item")

    # Limits.
    too_many = attrs([("v", str(i)) for i in range(257)])
    eq(error_of(c.put_attributes, DomainName=d, ItemName="big", Attributes=too_many),
       ("NumberSubmittedAttributesExceeded", 409), "257 attributes in one call")
    c.put_attributes(DomainName=d, ItemName="big", Attributes=too_many[:200])
    eq(error_of(c.put_attributes, DomainName=d, ItemName="big", Attributes=too_many[200:]),
       ("NumberItemAttributesExceeded", 409), "more than 256 pairs in an item")
    eq(error_of(c.put_attributes, DomainName=d, ItemName="big", Attributes=attrs([("v", "x" * 1025)])),
       ("InvalidParameterValue", 400), "a value over 1024 bytes")
    eq(error_of(c.put_attributes, DomainName="nope-nope", ItemName="i", Attributes=attrs([("a", "1")])),
       ("NoSuchDomain", 400), "put into a missing domain")


def conditional_writes(c):
    d = "cond"
    c.create_domain(DomainName=d)
    v1 = attrs([("version", "1")], replace=True)
    c.put_attributes(DomainName=d, ItemName="lock", Attributes=v1, Expected={"Name": "version", "Exists": False})
    eq(error_of(c.put_attributes, DomainName=d, ItemName="lock", Attributes=v1,
                Expected={"Name": "version", "Exists": False}),
       ("ConditionalCheckFailed", 409), "create-if-absent twice")
    c.put_attributes(DomainName=d, ItemName="lock", Attributes=attrs([("version", "2")], replace=True),
                     Expected={"Name": "version", "Value": "1"})
    eq(error_of(c.put_attributes, DomainName=d, ItemName="lock", Attributes=attrs([("version", "3")], replace=True),
                Expected={"Name": "version", "Value": "1", "Exists": True}),
       ("ConditionalCheckFailed", 409), "stale expected value")
    eq(get(c, d, "lock"), {"version": ["2"]}, "failed condition wrote nothing")
    eq(error_of(c.put_attributes, DomainName=d, ItemName="lock", Attributes=v1,
                Expected={"Name": "owner", "Value": "me"}),
       ("AttributeDoesNotExist", 404), "expected attribute missing")
    eq(error_of(c.delete_attributes, DomainName=d, ItemName="lock", Expected={"Name": "version", "Value": "9"}),
       ("ConditionalCheckFailed", 409), "conditional delete")
    c.delete_attributes(DomainName=d, ItemName="lock", Expected={"Name": "version", "Value": "2"})
    eq(get(c, d, "lock"), {}, "conditional delete done")


HOSTILE = [
    ("h1", "it's"),
    ("h2", 'say "hi"'),
    ("h3", "back`tick"),
    ("h4", "100%"),
    ("h5", "back\\slash"),
    ("h6", "ünïcødé ✓"),
    ("h7", "<xml> & 'amp'"),
    ("h8", "a*b?[c]"),
    ("h9", "' or 1=1 --"),
]


def select_grammar(c):
    d = "books"
    c.create_domain(DomainName=d)
    data = {
        "0385333498": [("Title", "The Sirens of Titan"), ("Year", "1959"), ("Pages", "00336"),
                       ("Keyword", "Book"), ("Keyword", "Paperback"), ("Rating", "*****"), ("Rating", "5 stars")],
        "0802131786": [("Title", "Tropic of Cancer"), ("Year", "1934"), ("Pages", "00318"),
                       ("Keyword", "Book"), ("Rating", "****")],
        "1579124585": [("Title", "The Right Stuff"), ("Year", "1979"), ("Pages", "00304"), ("Keyword", "Book"),
                       ("Keyword", "Hardcover"), ("Rating", "****"), ("Rating", "4 stars")],
        "B000T9886K": [("Title", "In Between"), ("Year", "2007"), ("Keyword", "CD"), ("Rating", "4 stars")],
        "B00005JPLW": [("Title", "300"), ("Year", "2007"), ("Keyword", "DVD"), ("Rating", "***")],
        "B000SF3NGK": [("Title", "Heaven and Earth"), ("Year", "2008"), ("Keyword", "Cult"), ("Rating", "*****")],
    }
    c.batch_put_attributes(DomainName=d, Items=[{"Name": k, "Attributes": attrs(v)} for k, v in data.items()])

    def where(expr):
        return names_of(c, f"select * from {d} where {expr}")

    eq(where("Title = 'The Right Stuff'"), ["1579124585"], "=")
    eq(where("Year != '2007'"), ["0385333498", "0802131786", "1579124585", "B000SF3NGK"], "!=")
    eq(where("Year > '1985'"), ["B00005JPLW", "B000SF3NGK", "B000T9886K"], ">")
    eq(where("Year >= '2008'"), ["B000SF3NGK"], ">=")
    eq(where("Pages < '00320'"), ["0802131786", "1579124585"], "<")
    eq(where("Pages <= '00304'"), ["1579124585"], "<=")
    eq(where("Rating like '****%'"), ["0385333498", "0802131786", "1579124585", "B000SF3NGK"], "like")
    eq(where("Title like '%of%'"), ["0385333498", "0802131786"], "like in the middle")
    eq(where("Title like 'the%'"), [], "like is case-sensitive")
    eq(where("Title not like 'The%'"), ["0802131786", "B00005JPLW", "B000SF3NGK", "B000T9886K"], "not like")
    eq(where("Year between '1975' and '2007'"), ["1579124585", "B00005JPLW", "B000T9886K"], "between")
    eq(where("Year in ('1934', '2008', '1000')"), ["0802131786", "B000SF3NGK"], "in")
    eq(where("Pages is null"), ["B00005JPLW", "B000SF3NGK", "B000T9886K"], "is null")
    eq(where("Pages is not null"), ["0385333498", "0802131786", "1579124585"], "is not null")
    eq(where("every(Rating) = '****'"), ["0802131786"], "every()")
    eq(where("Keyword = 'Book' and Keyword = 'Hardcover'"), [], "and on one attribute applies to one value")
    eq(where("Keyword = 'Book' intersection Keyword = 'Hardcover'"), ["1579124585"], "intersection")
    eq(where("Year > '1975' and Year < '2008'"), ["1579124585", "B00005JPLW", "B000T9886K"], "range")
    eq(where("(Year > '1950' and Year < '1960') or Year like '193%' or Year = '2007'"),
       ["0385333498", "0802131786", "B00005JPLW", "B000T9886K"], "or and parentheses")
    eq(where("not Year < '2000'"), ["B00005JPLW", "B000SF3NGK", "B000T9886K"], "not")
    eq(where("itemName() like 'B%' and Keyword = 'CD'"), ["B000T9886K"], "itemName()")
    eq(where("itemName() in ('0802131786', 'nope')"), ["0802131786"], "itemName() in")
    eq(names_of(c, "SELECT * FROM `books` WHERE `Year` = \"1934\""), ["0802131786"], "keywords in capitals, double quotes")

    # Output lists.
    items, _ = select_all(c, f"select Title, Year from {d} where Year = '1934'")
    eq([(i["Name"], as_dict(i.get("Attributes"))) for i in items],
       [("0802131786", {"Title": ["Tropic of Cancer"], "Year": ["1934"]})], "attribute list output")
    items, _ = select_all(c, f"select itemName() from {d} where Year = '1934'")
    eq([(i["Name"], i.get("Attributes", [])) for i in items], [("0802131786", [])], "itemName() output")

    # Order by and limit.
    items, _ = select_all(c, f"select itemName() from {d} where Year > '1900' order by Year desc")
    eq([i["Name"] for i in items][:3], ["B000SF3NGK", "B000T9886K", "B00005JPLW"], "order by desc, ties by name")
    items, _ = select_all(c, f"select itemName() from {d} where Pages is not null order by Pages")
    eq([i["Name"] for i in items], ["1579124585", "0802131786", "0385333498"], "order by asc")
    items, _ = select_all(c, f"select * from {d} order by itemName() limit 2")
    eq([i["Name"] for i in items], sorted(data), "limit 2 pages through everything in order")
    eq(error_of(c.select, SelectExpression=f"select * from {d} where Year = '1' order by Title"),
       ("InvalidSortExpression", 400), "sort attribute must be in a predicate")

    # Count.
    r = c.select(SelectExpression=f"select count(*) from {d} where Keyword = 'Book'")
    eq(r["Items"], [{"Name": "Domain", "Attributes": [{"Name": "Count", "Value": "3"}]}], "count(*)")

    # Hostile names and values: each matches exactly itself.
    c.batch_put_attributes(DomainName=d, Items=[
        {"Name": item, "Attributes": attrs([("hostile", v), ("we`ird n'ame", v)])} for item, v in HOSTILE
    ])
    for item, v in HOSTILE:
        eq(names_of(c, f"select * from {d} where hostile = {qv(v)}"), [item], f"exact {v!r}")
        eq(names_of(c, f"select * from {d} where {qn('we`ird n' + chr(39) + 'ame')} = {qv(v)}"), [item],
           f"quoted name {v!r}")
        pattern = v.replace("\\", "\\\\").replace("%", "\\%") + "%"
        eq(names_of(c, f"select * from {d} where hostile like {qv(pattern)}"), [item], f"prefix {v!r}")
        eq(get(c, d, item)["hostile"], [v], f"round trip {v!r}")
    eq(names_of(c, f"select * from {d} where hostile like '100\\%'"), ["h4"], "escaped percent")
    eq(names_of(c, f"select * from {d} where hostile like '%\\%'"), ["h4"], "escaped percent at the end")

    # Errors.
    for bad in [f"select * from {d} where", f"select * from {d} where Year = 1934",
                f"select * from {d} where Year = 'x", "selec * from books", f"select * from {d} limit 2501"]:
        eq(error_of(c.select, SelectExpression=bad), ("InvalidQueryExpression", 400), bad)
    eq(error_of(c.select, SelectExpression="select * from `no-such-domain`"), ("NoSuchDomain", 400), "missing domain")


def paging(c):
    d = "many"
    c.create_domain(DomainName=d)
    n = 2600
    for start in range(0, n, 25):
        c.batch_put_attributes(DomainName=d, Items=[
            {"Name": f"item{i:05d}", "Attributes": attrs([("n", f"{i:05d}"), ("odd", str(i % 2))])}
            for i in range(start, min(start + 25, n))
        ])
    items, pages = select_all(c, f"select * from {d}")
    eq(len(items), n, "all items over pages")
    eq(pages, 26, "100 items per page by default")
    eq([i["Name"] for i in items], [f"item{i:05d}" for i in range(n)], "items in order, each once")
    items, pages = select_all(c, f"select itemName() from {d} limit 2500")
    eq((len(items), pages), (n, 2), "limit 2500")
    items, pages = select_all(c, f"select * from {d} where odd = '1' limit 7")
    eq((len(items), pages), (1300, 186), "limit 7")
    paginated = [i["Name"] for p in c.get_paginator("select").paginate(
        SelectExpression=f"select itemName() from {d} where n >= '02000' order by n desc limit 250") for i in p.get("Items", [])]
    eq(paginated, [f"item{i:05d}" for i in range(n - 1, 1999, -1)], "paginator, order by desc")
    r = c.select(SelectExpression=f"select count(*) from {d}")
    eq(r["Items"][0]["Attributes"], [{"Name": "Count", "Value": str(n)}], "count(*) of everything")
    r = c.select(SelectExpression=f"select * from {d} limit 5")
    eq(error_of(c.select, SelectExpression=f"select * from {d} where odd = '0' limit 5", NextToken=r["NextToken"]),
       ("InvalidNextToken", 400), "a token of another query")
    eq(error_of(c.select, SelectExpression=f"select * from {d}", NextToken="garbage"),
       ("InvalidNextToken", 400), "a garbage token")


def mode_all():
    c = client()
    domains_and_metadata(c)
    puts_gets_deletes(c)
    conditional_writes(c)
    select_grammar(c)
    paging(c)
    print("all checks passed")


def mode_faults():
    # Retries are what is tested here, not their pacing: no waiting.
    botocore.retries.standard.ExponentialBackoff.delay_amount = lambda self, context: 0.001
    c = client(retries={"mode": "standard", "max_attempts": 30})
    ops = 0
    c.create_domain(DomainName="faulty")
    ops += 1
    for i in range(20):
        c.put_attributes(DomainName="faulty", ItemName=f"i{i}", Attributes=attrs([("n", str(i))]))
        ops += 1
    eq(get(c, "faulty", "i7"), {"n": ["7"]}, "get through faults")
    ops += 1
    items, pages = select_all(c, "select * from faulty limit 5")
    ops += pages
    eq(len(items), 20, "select through faults")
    print(json.dumps({"operations": ops}))


def mode_auth(key, secret):
    good = client(key, secret)
    good.create_domain(DomainName="signed")
    eq(good.list_domains()["DomainNames"], ["signed"], "signed request")
    eq(error_of(client(key, secret + "x").list_domains), ("SignatureDoesNotMatch", 403), "wrong secret")
    eq(error_of(client(key + "X", secret).list_domains), ("AuthFailure", 403), "wrong key")
    print("auth checks passed")


if __name__ == "__main__":
    if MODE == "all":
        mode_all()
    elif MODE == "faults":
        mode_faults()
    elif MODE == "auth":
        mode_auth(sys.argv[3], sys.argv[4])
    else:
        sys.exit(f"unknown mode {MODE}")
