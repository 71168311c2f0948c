#!/usr/bin/env python3
"""Writes import files for measuring `c360 import`: N customers (JSON Lines),
about 3 orders per customer (CSV, two lines each), one ticket, one review and
one NPS answer per customer (JSON Lines). Deterministic for a given N.

    python3 bench/import-data.py 10000 target/import-data
"""
import csv
import json
import os
import random
import sys

n = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
out = sys.argv[2] if len(sys.argv) > 2 else "target/import-data"
os.makedirs(out, exist_ok=True)
rng = random.Random(360)
skus = [(f"SKU-{i:03}", f"Product {i}", rng.randrange(500, 20000)) for i in range(200)]

with open(os.path.join(out, "customers.jsonl"), "w") as f:
    for i in range(n):
        f.write(json.dumps({
            "externalRef": f"crm-{i}",
            "email": f"customer{i}@example.com",
            "firstName": f"First{i}",
            "lastName": f"Last{i}",
            "country": rng.choice(["US", "FR", "DE", "GB"]),
            "emailMarketingState": rng.choice(["SUBSCRIBED", "UNSUBSCRIBED"]),
            "tags": rng.sample(["vip", "wholesale", "newsletter", "b2b"], 2),
        }) + "\n")

with open(os.path.join(out, "orders.csv"), "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["externalRef", "customerExternalRef", "status", "currency", "total",
                "placedAt", "sku", "productName", "quantity", "unitPrice"])
    k = 0
    for i in range(n):
        for _ in range(3):
            k += 1
            lines = rng.sample(skus, 2)
            qty = [rng.randrange(1, 4) for _ in lines]
            total = sum(q * l[2] for q, l in zip(qty, lines))
            status = rng.choice(["PAID", "PAID", "FULFILLED", "PENDING"])
            day = rng.randrange(1, 28)
            for q, (sku, name, price) in zip(qty, lines):
                w.writerow([f"pos-{k}", f"crm-{i}", status, "USD", total,
                            f"2026-10-{day:02}T12:00:00Z", sku, name, q, price])

with open(os.path.join(out, "tickets.jsonl"), "w") as f:
    for i in range(n):
        f.write(json.dumps({
            "externalRef": f"zd-{i}", "customerExternalRef": f"crm-{i}",
            "subject": "Where is my order?", "status": "SOLVED",
            "createdAt": "2026-10-05T09:00:00Z", "firstReplyAt": "2026-10-05T09:40:00Z",
            "solvedAt": "2026-10-05T12:00:00Z", "satisfactionScore": rng.randrange(1, 6),
            "messages": [{"authorKind": "CUSTOMER", "body": "Hello"},
                         {"authorKind": "AGENT", "body": "On its way",
                          "createdAt": "2026-10-05T09:40:00Z"}],
        }) + "\n")

with open(os.path.join(out, "reviews.jsonl"), "w") as f:
    for i in range(n):
        f.write(json.dumps({
            "customerExternalRef": f"crm-{i}", "sku": rng.choice(skus)[0],
            "rating": rng.randrange(1, 6), "title": "Review", "status": "PUBLISHED",
        }) + "\n")

with open(os.path.join(out, "nps.jsonl"), "w") as f:
    for i in range(n):
        f.write(json.dumps({
            "externalRef": f"survey-{i}", "customerExternalRef": f"crm-{i}",
            "score": rng.randrange(0, 11), "channel": "EMAIL",
        }) + "\n")
