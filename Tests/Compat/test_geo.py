"""2dsphere indexes and geo queries through pymongo: MongoDB's index shape, $near ordered by
distance with $maxDistance/$minDistance and other filters, $nearSphere in radians,
$geoWithin ($geometry, $centerSphere, $box, $polygon, $center, big polygons),
$geoIntersects, the $geoNear stage, explain, and the error codes.

Expected distances follow MongoDB's arithmetic (S2's angle between unit vectors,
atan2(|a × b|, a · b), times kRadiusOfEarthInMeters = 6,378,100 m for GeoJSON points; radians
for legacy pairs with $nearSphere or spherical $geoNear), worked out here independently."""
import math

import pytest
from pymongo import GEOSPHERE
from pymongo.errors import OperationFailure, WriteError

EARTH = 6378.1 * 1000


def unit(lng, lat):
    phi, lam = math.radians(lat), math.radians(lng)
    return (math.cos(phi) * math.cos(lam), math.cos(phi) * math.sin(lam), math.sin(phi))


def angle(a, b):
    x, y = unit(*a), unit(*b)
    cross = (x[1] * y[2] - x[2] * y[1], x[2] * y[0] - x[0] * y[2], x[0] * y[1] - x[1] * y[0])
    return math.atan2(math.sqrt(sum(c * c for c in cross)), sum(p * q for p, q in zip(x, y)))


def meters(a, b):
    return angle(a, b) * EARTH


def point(lng, lat):
    return {"type": "Point", "coordinates": [lng, lat]}


CENTER = (-73.9667, 40.78)
STORES = {
    1: ((-73.9712, 40.7831), "open"),
    2: ((-73.9580, 40.7720), "open"),
    3: ((-73.9857, 40.7484), "closed"),
    4: ((-73.9442, 40.8075), "open"),
    5: ((-74.0445, 40.6892), "open"),
    6: ((-73.7781, 40.6413), "open"),
    7: ((2.2945, 48.8584), "open"),
}


@pytest.fixture()
def stores(db):
    db.stores.insert_many([{"_id": i, "loc": point(*c), "status": s} for i, (c, s) in STORES.items()])
    db.stores.create_index([("loc", GEOSPHERE)])
    return db.stores


def by_distance(ids):
    return sorted(ids, key=lambda i: meters(CENTER, STORES[i][0]))


def test_index_shape(stores):
    spec = [i for i in stores.list_indexes() if i["name"] == "loc_2dsphere"][0]
    assert dict(spec) == {"v": 2, "key": {"loc": "2dsphere"}, "name": "loc_2dsphere", "2dsphereIndexVersion": 3}
    assert isinstance(spec["2dsphereIndexVersion"], int)


def test_near_orders_by_distance_with_limits_and_filters(stores):
    near = {"$geometry": point(*CENTER)}
    assert [d["_id"] for d in stores.find({"loc": {"$near": near}})] == by_distance(STORES)
    got = [d["_id"] for d in stores.find({"loc": {"$near": {**near, "$maxDistance": 5000}}, "status": "open"})]
    assert got == [i for i in by_distance(STORES) if STORES[i][1] == "open" and meters(CENTER, STORES[i][0]) <= 5000]
    got = [d["_id"] for d in stores.find({"loc": {"$near": {**near, "$minDistance": 1000, "$maxDistance": 20000}}})]
    assert got == [i for i in by_distance(STORES) if 1000 <= meters(CENTER, STORES[i][0]) <= 20000]
    assert [d["_id"] for d in stores.find({"loc": {"$near": near}}).limit(2)] == by_distance(STORES)[:2]
    # An explicit sort overrides the distance order.
    assert [d["_id"] for d in stores.find({"loc": {"$near": near}}).sort("_id", -1)] == sorted(STORES, reverse=True)


def test_near_sphere_with_legacy_pairs_measures_radians(db):
    db.legacy.insert_many([{"_id": i, "loc": list(c)} for i, (c, _) in STORES.items()])
    db.legacy.create_index([("loc", GEOSPHERE)])
    radius = 5000 / EARTH
    got = [d["_id"] for d in db.legacy.find({"loc": {"$nearSphere": list(CENTER), "$maxDistance": radius}})]
    assert got == [i for i in by_distance(STORES) if angle(CENTER, STORES[i][0]) <= radius]
    # A flat $near on a legacy pair needs a 2d index.
    with pytest.raises(OperationFailure) as e:
        list(db.legacy.find({"loc": {"$near": list(CENTER)}}))
    assert e.value.code == 291


def test_geo_near_stage_distances(stores):
    rows = list(stores.aggregate([
        {"$geoNear": {"near": point(*CENTER), "distanceField": "dist.calculated", "maxDistance": 10000,
                      "query": {"status": "open"}, "includeLocs": "dist.location"}},
        {"$project": {"dist": 1}},
    ]))
    want = [i for i in by_distance(STORES) if STORES[i][1] == "open" and meters(CENTER, STORES[i][0]) <= 10000]
    assert [r["_id"] for r in rows] == want
    for r in rows:
        assert r["dist"]["calculated"] == pytest.approx(meters(CENTER, STORES[r["_id"]][0]), rel=0)
        assert isinstance(r["dist"]["calculated"], float)
        assert r["dist"]["location"] == point(*STORES[r["_id"]][0])
    # Legacy near with spherical: radians, scaled by distanceMultiplier (to kilometers here).
    rows = list(stores.aggregate([{"$geoNear": {"near": list(CENTER), "spherical": True, "distanceField": "km",
                                                "distanceMultiplier": 6378.1}}, {"$limit": 3}]))
    for r in rows:
        assert r["km"] == pytest.approx(meters(CENTER, STORES[r["_id"]][0]) / 1000, rel=0)
    assert [r["_id"] for r in rows] == by_distance(STORES)[:3]


def test_geo_within_shapes(stores, db):
    box = [[-74.0, 40.75], [-73.95, 40.79]]
    ids = lambda q: sorted(d["_id"] for d in stores.find({"loc": {"$geoWithin": q}}))
    inside = lambda lo, hi, c: lo[0] <= c[0] <= hi[0] and lo[1] <= c[1] <= hi[1]
    polygon = [[box[0], [box[1][0], box[0][1]], box[1], [box[0][0], box[1][1]], box[0]]]
    assert ids({"$geometry": {"type": "Polygon", "coordinates": polygon}}) == [i for i in STORES if inside(box[0], box[1], STORES[i][0])]
    assert ids({"$box": box}) == [i for i in STORES if inside(box[0], box[1], STORES[i][0])]
    assert ids({"$centerSphere": [list(CENTER), 3000 / EARTH]}) == sorted(i for i in STORES if meters(CENTER, STORES[i][0]) <= 3000)
    # A subnormal radius once trapped the server (its covering's start level came out infinite).
    assert ids({"$centerSphere": [list(CENTER), 5e-324]}) == []
    assert ids({"$center": [list(CENTER), 0.02]}) == sorted(
        i for i in STORES if math.hypot(STORES[i][0][0] - CENTER[0], STORES[i][0][1] - CENTER[1]) <= 0.02)
    assert ids({"$polygon": [[-74.05, 40.68], [-73.95, 40.68], [-73.95, 40.79], [-74.05, 40.79]]}) == [1, 2, 3, 5]
    # The triangle's hypotenuse runs below stores 2, 3 and 5 (y = 40.68 + 0.8 (x + 74.05)).
    assert ids({"$polygon": [[-74.05, 40.68], [-73.9, 40.68], [-73.9, 40.8]]}) == []
    multi = {"type": "MultiPolygon", "coordinates": [polygon, [[[2, 48], [3, 48], [3, 49], [2, 49], [2, 48]]]]}
    assert ids({"$geometry": multi}) == sorted([i for i in STORES if inside(box[0], box[1], STORES[i][0])] + [7])
    # A big polygon: everything but a box around New York (its inside is left of the ring).
    big = {"type": "Polygon", "coordinates": [[[-75, 40], [-75, 41.5], [-73, 41.5], [-73, 40], [-75, 40]]],
           "crs": {"type": "name", "properties": {"name": "urn:x-mongodb:crs:strictwinding:EPSG:4326"}}}
    assert ids({"$geometry": big}) == [7]
    # Lines and polygons are within a polygon only when wholly inside.
    db.shapes.insert_many([
        {"_id": "inner", "g": {"type": "LineString", "coordinates": [[0.1, 0.1], [0.5, 0.5]]}},
        {"_id": "crossing", "g": {"type": "LineString", "coordinates": [[0.5, 0.5], [2, 0.5]]}},
        {"_id": "square", "g": {"type": "Polygon", "coordinates": [[[0.2, 0.2], [0.4, 0.2], [0.4, 0.4], [0.2, 0.4], [0.2, 0.2]]]}},
    ])
    unit_square = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]}
    assert sorted(d["_id"] for d in db.shapes.find({"g": {"$geoWithin": {"$geometry": unit_square}}})) == ["inner", "square"]
    db.shapes.create_index([("g", GEOSPHERE)])
    assert sorted(d["_id"] for d in db.shapes.find({"g": {"$geoWithin": {"$geometry": unit_square}}})) == ["inner", "square"]


def test_geo_intersects(db):
    db.roads.insert_many([
        {"_id": 1, "g": {"type": "LineString", "coordinates": [[0, 0], [2, 2]]}},
        {"_id": 2, "g": {"type": "LineString", "coordinates": [[5, 5], [6, 6]]}},
        {"_id": 3, "g": {"type": "Polygon", "coordinates": [[[1, -1], [3, -1], [3, 1], [1, 1], [1, -1]]]}},
        {"_id": 4, "g": point(1.5, 0)},
        {"_id": 5, "g": {"type": "MultiPoint", "coordinates": [[10, 10], [1.9, 0.5]]}},
        {"_id": 6, "g": {"type": "GeometryCollection", "geometries": [point(40, 40), {"type": "LineString", "coordinates": [[1, 1.5], [1, 3]]}]}},
    ])
    for indexed in (False, True):
        if indexed:
            db.roads.create_index([("g", GEOSPHERE)])
        hit = lambda g: sorted(d["_id"] for d in db.roads.find({"g": {"$geoIntersects": {"$geometry": g}}}))
        assert hit({"type": "LineString", "coordinates": [[0, 0.9], [0.9, 0]]}) == [1]
        assert hit({"type": "Polygon", "coordinates": [[[1.4, -0.5], [2, -0.5], [2, 0.6], [1.4, 0.6], [1.4, -0.5]]]}) == [3, 4, 5]
        assert hit(point(1.5, 0)) == [3, 4]
        assert hit({"type": "LineString", "coordinates": [[0.5, 2], [1.5, 2]]}) == [6]


def test_compound_index_and_explain(db):
    db.cars.insert_many([{"_id": i, "status": ["free", "busy"][i % 2], "loc": point(-73.96 + i / 1000, 40.78)} for i in range(40)])
    db.cars.create_index([("status", 1), ("loc", GEOSPHERE)])
    near = {"loc": {"$near": {"$geometry": point(-73.96, 40.78)}}, "status": "free"}
    assert [d["_id"] for d in db.cars.find(near).limit(3)] == [0, 2, 4]
    plan = db.cars.find(near).explain()["queryPlanner"]["winningPlan"]
    assert plan["stage"] == "GEO_NEAR_2DSPHERE" and plan["indexName"] == "status_1_loc_2dsphere"
    within = {"loc": {"$geoWithin": {"$centerSphere": [[-73.96, 40.78], 100 / EARTH]}}, "status": "busy"}
    assert sorted(d["_id"] for d in db.cars.find(within)) == [i for i in range(40) if i % 2 == 1 and meters((-73.96, 40.78), (-73.96 + i / 1000, 40.78)) <= 100]
    stats = db.cars.find(within).explain()["executionStats"]
    scan = stats["executionStages"]["inputStage"]
    assert scan["stage"] == "IXSCAN" and scan["indexName"] == "status_1_loc_2dsphere"
    assert scan["indexBounds"]["status"] == ['["busy", "busy"]']
    assert all(b.startswith("[") for b in scan["indexBounds"]["loc"])
    assert stats["totalDocsExamined"] < 40


def test_errors(db, stores):
    with pytest.raises(WriteError) as e:
        stores.insert_one({"_id": 100, "loc": point(200, 0)})
    assert e.value.code == 16755
    assert "Can't extract geo keys" in e.value.details["errmsg"] and "longitude/latitude is out of bounds" in e.value.details["errmsg"]
    with pytest.raises(WriteError) as e:
        stores.insert_one({"_id": 101, "loc": {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}})
    assert e.value.code == 16755 and "Edges 0 and 2 cross" in e.value.details["errmsg"]
    # An update that breaks the geometry is refused and leaves the document as it was.
    with pytest.raises(WriteError) as e:
        stores.update_one({"_id": 1}, {"$set": {"loc.coordinates": [0, 95]}})
    assert e.value.code == 16755 and e.value.details["errmsg"].startswith("Can't extract geo keys: { _id: 1, loc: {")
    assert stores.find_one({"_id": 1})["loc"] == point(*STORES[1][0])
    # A document without the field is not indexed and inserts fine.
    stores.insert_one({"_id": 102})
    # Building over a stored bad geometry fails with the whole document quoted, and no index is left.
    db.pending.insert_many([{"_id": 1, "loc": point(1, 2)}, {"_id": 2, "loc": point(500, 2)}])
    with pytest.raises(OperationFailure) as e:
        db.pending.create_index([("loc", GEOSPHERE)])
    assert e.value.code == 16755 and "{ _id: 2, loc: { type: \"Point\", coordinates: [ 500, 2 ] } }" in e.value.details["errmsg"]
    assert [i["name"] for i in db.pending.list_indexes()] == ["_id_"]
    db.plain.insert_one({"loc": [0, 0]})
    with pytest.raises(OperationFailure) as e:
        list(db.plain.find({"loc": {"$near": {"$geometry": point(0, 0)}}}))
    assert e.value.code == 291 and "unable to find index for $geoNear query" in str(e.value)
    with pytest.raises(OperationFailure) as e:
        list(db.plain.aggregate([{"$geoNear": {"near": point(0, 0), "distanceField": "d"}}]))
    assert e.value.code == 27
    bad_polygon = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}
    with pytest.raises(OperationFailure) as e:
        list(db.plain.find({"loc": {"$geoWithin": {"$geometry": bad_polygon}}}))
    assert e.value.code == 2 and "Loop is not valid" in str(e.value)
    with pytest.raises(OperationFailure) as e:
        list(db.plain.find({"loc": {"$geoWithin": {"$geometry": point(0, 0)}}}))
    assert e.value.code == 2
    with pytest.raises(OperationFailure) as e:
        list(stores.aggregate([{"$match": {"loc": {"$near": {"$geometry": point(0, 0)}}}}]))
    assert e.value.code == 5626500
    with pytest.raises(OperationFailure) as e:
        stores.count_documents({"loc": {"$near": {"$geometry": point(0, 0)}}})
    assert e.value.code == 5626500
    with pytest.raises(OperationFailure) as e:
        list(stores.aggregate([{"$match": {}}, {"$geoNear": {"near": point(0, 0), "distanceField": "d"}}]))
    assert e.value.code == 40602
    with pytest.raises(OperationFailure) as e:
        list(stores.aggregate([{"$geoNear": {"near": point(0, 0)}}]))
    assert e.value.code == 16606
    with pytest.raises(OperationFailure) as e:
        list(stores.find({"$or": [{"loc": {"$near": {"$geometry": point(0, 0)}}}, {"status": "open"}]}))
    assert e.value.code == 2
    with pytest.raises(OperationFailure) as e:
        list(stores.find({"loc": {"$near": {"$geometry": point(0, 0), "$maxDistance": -1}}}))
    assert e.value.code == 2


def test_2d_index_flat_queries(db):
    pts = {i: ((i * 7) % 23 - 11.5, (i * 5) % 17 - 8.25) for i in range(40)}
    db.grid.insert_many([{"_id": i, "loc": list(p), "kind": i % 3} for i, p in pts.items()] + [{"_id": 100, "other": 1}])
    db.grid.create_index([("loc", "2d"), ("kind", 1)], bits=20, min=-50, max=50)
    spec = [i for i in db.grid.list_indexes() if i["name"] == "loc_2d_kind_1"][0]
    assert dict(spec) == {"v": 2, "key": {"loc": "2d", "kind": 1}, "name": "loc_2d_kind_1", "bits": 20, "min": -50, "max": 50}
    flat = lambda p: math.hypot(p[0] - 1, p[1] - 2)
    got = [d["_id"] for d in db.grid.find({"loc": {"$near": [1, 2], "$maxDistance": 6}})]
    assert got == sorted((i for i in pts if flat(pts[i]) <= 6), key=lambda i: (flat(pts[i]), i))
    assert [d["_id"] for d in db.grid.find({"loc": {"$near": [1, 2]}, "kind": 1}).limit(3)] == sorted(
        (i for i in pts if i % 3 == 1), key=lambda i: flat(pts[i]))[:3]
    plan = db.grid.find({"loc": {"$near": [1, 2]}}).explain()["queryPlanner"]["winningPlan"]
    assert plan["stage"] == "GEO_NEAR_2D"
    rows = list(db.grid.aggregate([{"$geoNear": {"near": [1, 2], "distanceField": "d", "maxDistance": 6}}]))
    assert [r["d"] for r in rows] == sorted(flat(pts[i]) for i in pts if flat(pts[i]) <= 6)
    box = {"$box": [[-5, -5], [5, 5]]}
    assert sorted(d["_id"] for d in db.grid.find({"loc": {"$geoWithin": box}})) == [i for i in pts if all(-5 <= c <= 5 for c in pts[i])]
    scan = db.grid.find({"loc": {"$geoWithin": box}}).explain()["queryPlanner"]["winningPlan"]["inputStage"]
    assert scan["stage"] == "IXSCAN" and scan["indexName"] == "loc_2d_kind_1"
    # $nearSphere on a 2d index measures radians between the pairs as longitude/latitude.
    rows = list(db.grid.aggregate([{"$geoNear": {"near": [1, 2], "spherical": True, "distanceField": "d"}}, {"$limit": 4}]))
    assert [r["d"] for r in rows] == sorted(angle((1, 2), pts[i]) for i in pts)[:4]


def test_2d_index_errors(db):
    with pytest.raises(OperationFailure) as e:
        db.g1.create_index([("kind", 1), ("loc", "2d")])
    assert e.value.code == 16801
    with pytest.raises(OperationFailure) as e:
        db.g2.create_index([("loc", "2d")], bits=33)
    assert e.value.code == 16803
    db.g3.create_index([("loc", "2d")])
    with pytest.raises(WriteError) as e:
        db.g3.insert_one({"loc": [200, 0]})
    assert e.value.code == 13027
    with pytest.raises(WriteError) as e:
        db.g3.insert_one({"loc": {"type": "Point", "coordinates": [1, 2]}})
    assert e.value.code == 16804
    # A GeoJSON $near needs a 2dsphere index.
    with pytest.raises(OperationFailure) as e:
        list(db.g3.find({"loc": {"$near": {"$geometry": point(0, 0)}}}))
    assert e.value.code == 291


def test_text_and_near_restrictions(db, stores):
    """MongoDB's CanonicalQuery::isValid: $text and $near exclude each other, $natural orders
    and (for $text) hints; all BadValue."""
    stores.update_one({"_id": 1}, {"$set": {"name": "corner tea shop"}})
    stores.create_index([("name", "text")])
    near = {"loc": {"$near": {"$geometry": point(*CENTER)}}}
    text = {"$text": {"$search": "tea"}}
    cases = [
        (stores.find({**near, **text}), "text and geoNear not allowed in same query"),
        (stores.find(near).sort("$natural", 1), "geoNear expression not allowed with $natural sort order"),
        (stores.find(near).hint([("$natural", 1)]), "geoNear expression not allowed with $natural hint"),
        (stores.find(text).sort("$natural", 1), "text expression not allowed with $natural sort order"),
        (stores.find(text).hint("_id_"), "text and hint not allowed in same query"),
    ]
    for cursor, message in cases:
        with pytest.raises(OperationFailure) as e:
            list(cursor)
        assert e.value.code == 2 and message in str(e.value)
    assert [d["_id"] for d in stores.find(text)] == [1]
