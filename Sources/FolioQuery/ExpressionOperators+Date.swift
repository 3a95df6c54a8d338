import FolioBSON
import Foundation
import Synchronization
import FolioLocks

// Date operators. Dates are milliseconds since the epoch (UTC); calendar fields come from a
// proleptic Gregorian calendar computed here (days ⇄ civil date), shifted by the offset of
// the requested timezone: "UTC"/"GMT", "+hh:mm"/"+hhmm"/"+hh", or an Olson name resolved
// through the system's tz database.

/// A timezone of a date expression.
struct DateZone: Sendable {
    let fixedOffsetSeconds: Int?
    let zone: TimeZone?

    static let utc = DateZone(fixedOffsetSeconds: 0, zone: nil)

    static func parse(_ v: BSON?, _ op: String) throws(FolioError) -> DateZone? {
        guard let v else { return .utc }
        if v.isNullish { return nil }
        guard case .string(let s) = v else {
            throw FolioError(ErrorCode(rawValue: 40517), "timezone must evaluate to a string, found \(v.type.alias)")
        }
        if s == "UTC" || s == "GMT" || s == "Z" { return .utc }
        if let offset = parseOffset(s) { return DateZone(fixedOffsetSeconds: offset, zone: nil) }
        guard let zone = olson(s) else {
            throw FolioError(ErrorCode(rawValue: 40485), "unrecognized time zone identifier: \"\(s)\"")
        }
        return DateZone(fixedOffsetSeconds: nil, zone: zone)
    }

    /// Olson names resolved once per process: expressions look their zone up per document.
    static let resolved = Locked<[String: TimeZone]>([:])
    static let knownNames = Set(TimeZone.knownTimeZoneIdentifiers)

    static func olson(_ name: String) -> TimeZone? {
        if let zone = resolved.withLock({ $0[name] }) { return zone }
        guard let zone = TimeZone(identifier: name), name.contains("/") || knownNames.contains(name) else { return nil }
        resolved.withLock { $0[name] = zone }
        return zone
    }

    /// `+hh`, `+hhmm`, `+hh:mm` (and `-`).
    static func parseOffset(_ s: String) -> Int? {
        let u = Array(s.utf8)
        guard let sign = u.first, sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") else { return nil }
        let digits = u.dropFirst().filter { $0 != UInt8(ascii: ":") }
        guard digits.allSatisfy({ $0 >= 48 && $0 <= 57 }), [2, 4].contains(digits.count) else { return nil }
        if u.count == 6 && u[3] != UInt8(ascii: ":") { return nil }
        let d = digits.map { Int($0 - 48) }
        let hours = d[0] * 10 + d[1], minutes = d.count == 4 ? d[2] * 10 + d[3] : 0
        let total = hours * 3600 + minutes * 60
        return sign == UInt8(ascii: "-") ? -total : total
    }

    /// Offset from UTC at a UTC instant.
    func offsetSeconds(atUTC ms: Int64) -> Int {
        if let fixedOffsetSeconds { return fixedOffsetSeconds }
        return zone!.secondsFromGMT(for: Date(timeIntervalSince1970: Double(ms) / 1000))
    }

    /// The UTC instant of a local wall-clock time. Instants within a day of the ends of the
    /// date range saturate instead of overflowing.
    func utc(fromLocal ms: Int64) -> Int64 {
        if let fixedOffsetSeconds { return ms.addingSaturated(-Int64(fixedOffsetSeconds) * 1000) }
        let first = ms.addingSaturated(-Int64(offsetSeconds(atUTC: ms)) * 1000)
        return ms.addingSaturated(-Int64(offsetSeconds(atUTC: first)) * 1000)
    }

    func local(_ utc: Int64) -> Int64 { DateZone.local(utc, offsetSeconds: offsetSeconds(atUTC: utc)) }

    /// The local time `offsetSeconds` ahead of the UTC instant `utc`; instants within a day of
    /// the ends of the date range saturate instead of overflowing.
    static func local(_ utc: Int64, offsetSeconds: Int) -> Int64 { utc.addingSaturated(Int64(offsetSeconds) * 1000) }
}

/// Calendar fields of a local time, with the week and ISO-week arithmetic of the date
/// operators (FolioBSON's CivilTime does the day-number conversions).
struct CalendarFields: Sendable {
    var year: Int64, month: Int64, day: Int64, hour: Int64, minute: Int64, second: Int64, millisecond: Int64

    /// ⌊a / b⌋ for b > 0, for every a (Int64.min included).
    static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
        let q = a / b
        return a % b < 0 ? q - 1 : q
    }

    init(localMilliseconds ms: Int64) {
        let days = CalendarFields.floorDiv(ms, 86_400_000)
        // The product can pass Int64.min for the earliest dates; the difference fits (0..<1 day).
        var rest = ms &- days &* 86_400_000
        (year, month, day) = CalendarFields.civil(fromDays: days)
        hour = rest / 3_600_000; rest %= 3_600_000
        minute = rest / 60_000; rest %= 60_000
        second = rest / 1000
        millisecond = rest % 1000
    }

    init(year: Int64, month: Int64, day: Int64, hour: Int64 = 0, minute: Int64 = 0, second: Int64 = 0, millisecond: Int64 = 0) {
        self.year = year; self.month = month; self.day = day
        self.hour = hour; self.minute = minute; self.second = second; self.millisecond = millisecond
    }

    /// Local milliseconds; months and days out of range carry over (month 13 = next January).
    /// The fields come from dates or from parts MongoDB bounds (years 1-9999, other parts
    /// ±32767), so the sum fits; it wraps rather than traps if it ever did not.
    var localMilliseconds: Int64 {
        let m0 = month - 1
        let y = year + CalendarFields.floorDiv(m0, 12)
        let m = m0 - CalendarFields.floorDiv(m0, 12) * 12 + 1
        let days = CalendarFields.days(fromCivil: y, m, 1) &+ day &- 1
        return days &* 86_400_000 &+ hour &* 3_600_000 &+ minute &* 60_000 &+ second &* 1000 &+ millisecond
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date.
    static func days(fromCivil y: Int64, _ m: Int64, _ d: Int64) -> Int64 {
        Int64(CivilTime.days(fromCivil: Int(y), Int(m), Int(d)))
    }

    static func civil(fromDays z: Int64) -> (Int64, Int64, Int64) {
        let (y, m, d) = CivilTime.civil(fromDays: Int(z))
        return (Int64(y), Int64(m), Int64(d))
    }

    static func isLeap(_ y: Int64) -> Bool { (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 }

    static func daysInMonth(_ y: Int64, _ m: Int64) -> Int64 {
        [31, isLeap(y) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][Int(m - 1)]
    }

    var daysSinceEpoch: Int64 { CalendarFields.days(fromCivil: year, month, day) }
    /// 1 = Sunday … 7 = Saturday.
    var dayOfWeek: Int64 {
        // 1970-01-01 was a Thursday (5).
        let shifted = daysSinceEpoch + 4
        return shifted - CalendarFields.floorDiv(shifted, 7) * 7 + 1
    }
    /// 1 = Monday … 7 = Sunday.
    var isoDayOfWeek: Int64 { dayOfWeek == 1 ? 7 : dayOfWeek - 1 }
    var dayOfYear: Int64 { daysSinceEpoch - CalendarFields.days(fromCivil: year, 1, 1) + 1 }
    /// Week of the year with weeks starting on Sunday (0 before the first Sunday), as `%U`.
    var week: Int64 { (dayOfYear - 1 + 7 - (dayOfWeek - 1)) / 7 }

    var isoWeekAndYear: (week: Int64, year: Int64) {
        // The ISO week containing this day's Thursday decides the year.
        let thursday = daysSinceEpoch - isoDayOfWeek + 4
        let (ty, _, _) = CalendarFields.civil(fromDays: thursday)
        let week = (thursday - CalendarFields.days(fromCivil: ty, 1, 1)) / 7 + 1
        return (week, ty)
    }
}

enum DateOperators {
    static let monthNames = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"]

    /// The milliseconds of a date-like value: date, timestamp or ObjectId.
    static func milliseconds(_ v: BSON, _ op: String) throws(FolioError) -> Int64 {
        switch v {
        case .datetime(let ms): return ms
        case .timestamp(let t): return Int64(t.seconds) * 1000
        case .objectID(let o): return Int64(o.timestampSeconds) * 1000
        default:
            throw FolioError(ErrorCode(rawValue: 16006), "can't convert from BSON type \(v.type.alias) to Date")
        }
    }

    static func register(into t: inout [String: ExpressionOperators.Operator]) {
        let parts: [(String, @Sendable (CalendarFields) -> BSON)] = [
            ("$year", { .int32(Int32($0.year)) }), ("$month", { .int32(Int32($0.month)) }),
            ("$dayOfMonth", { .int32(Int32($0.day)) }), ("$hour", { .int32(Int32($0.hour)) }),
            ("$minute", { .int32(Int32($0.minute)) }), ("$second", { .int32(Int32($0.second)) }),
            ("$millisecond", { .int32(Int32($0.millisecond)) }), ("$dayOfYear", { .int32(Int32($0.dayOfYear)) }),
            ("$dayOfWeek", { .int32(Int32($0.dayOfWeek)) }), ("$week", { .int32(Int32($0.week)) }),
            ("$isoWeek", { .int32(Int32($0.isoWeekAndYear.week)) }), ("$isoWeekYear", { .int64($0.isoWeekAndYear.year) }),
            ("$isoDayOfWeek", { .int32(Int32($0.isoDayOfWeek)) }),
        ]
        for (name, extract) in parts {
            t[name] = .init(arity: (1, 1), takesDocument: false) { args, _ throws(FolioError) in
                var dateValue = args[0]
                var zoneValue: BSON?
                if case .document(let d)? = args[0], d.index(forKey: "date") != nil {
                    for k in d.fieldNames where k != "date" && k != "timezone" {
                        throw FolioError(ErrorCode(rawValue: 40535), "unrecognized option to \(name): \"\(k)\"")
                    }
                    dateValue = d["date"]
                    zoneValue = d["timezone"]
                }
                guard let dateValue, !dateValue.isNullish else { return .null }
                guard let zone = try DateZone.parse(zoneValue, name) else { return .null }
                let ms = try milliseconds(dateValue, name)
                return extract(CalendarFields(localMilliseconds: zone.local(ms)))
            }
        }
        t["$dateToString"] = .init(arity: (1, 1), takesDocument: true) { args, _ throws(FolioError) in
            let spec = try named(args[0], "$dateToString", ["date", "format", "timezone", "onNull"], code: 18629)
            guard spec.index(forKey: "date") != nil else {
                throw FolioError(ErrorCode(rawValue: 18628), "Missing 'date' parameter to $dateToString")
            }
            var format = spec.index(forKey: "timezone") != nil ? "%Y-%m-%dT%H:%M:%S.%L" : "%Y-%m-%dT%H:%M:%S.%LZ"
            if let f = spec["format"] {
                if f.isNullish { return .null }
                guard case .string(let s) = f else {
                    throw FolioError(ErrorCode(rawValue: 18533), "$dateToString requires that 'format' be a string, found: \(f.type.alias) with value \(f)")
                }
                try validateFormat(s, "$dateToString")
                format = s
            }
            guard let zone = try DateZone.parse(spec["timezone"], "$dateToString") else { return .null }
            guard let date = spec["date"], !date.isNullish else {
                if spec.index(forKey: "onNull") != nil { return spec["onNull"] }
                return .null
            }
            return .string(try formatDate(try milliseconds(date, "$dateToString"), format, zone))
        }
        t["$dateFromString"] = .init(arity: (1, 1), takesDocument: true) { args, _ throws(FolioError) in
            let spec = try named(args[0], "$dateFromString", ["dateString", "format", "timezone", "onError", "onNull"], code: 40541)
            guard spec.index(forKey: "dateString") != nil else {
                throw FolioError(ErrorCode(rawValue: 40540), "Missing 'dateString' parameter to $dateFromString")
            }
            var format: String?
            if let f = spec["format"] {
                if f.isNullish { return .null }
                guard case .string(let s) = f else {
                    throw FolioError(ErrorCode(rawValue: 40684), "$dateFromString requires that 'format' be a string, found: \(f.type.alias) with value \(f)")
                }
                try validateFormat(s, "$dateFromString")
                format = s
            }
            guard let zone = try DateZone.parse(spec["timezone"], "$dateFromString") else { return .null }
            guard let input = spec["dateString"], !input.isNullish else {
                if spec.index(forKey: "onNull") != nil { return spec["onNull"] }
                return .null
            }
            do throws(FolioError) {
                guard case .string(let s) = input else {
                    throw FolioError(.conversionFailure, "$dateFromString requires that 'dateString' be a string, found: \(input.type.alias) with value \(input)")
                }
                return .datetime(try parseDate(s, format: format, zone: zone, explicitZone: spec.index(forKey: "timezone") != nil))
            } catch {
                if spec.index(forKey: "onError") != nil { return spec["onError"] }
                throw error
            }
        }
        t["$dateToParts"] = .init(arity: (1, 1), takesDocument: true) { args, _ throws(FolioError) in
            let spec = try named(args[0], "$dateToParts", ["date", "timezone", "iso8601"], code: 40520)
            guard spec.index(forKey: "date") != nil else {
                throw FolioError(ErrorCode(rawValue: 40522), "Missing 'date' parameter to $dateToParts")
            }
            guard let zone = try DateZone.parse(spec["timezone"], "$dateToParts") else { return .null }
            var iso = false
            if let i = spec["iso8601"] {
                if i.isNullish { return .null }
                guard case .bool(let b) = i else {
                    throw FolioError(ErrorCode(rawValue: 40521), "iso8601 must evaluate to a bool, found \(i.type.alias)")
                }
                iso = b
            }
            guard let date = spec["date"], !date.isNullish else { return .null }
            let c = CalendarFields(localMilliseconds: zone.local(try milliseconds(date, "$dateToParts")))
            var out = Document()
            if iso {
                let (week, year) = c.isoWeekAndYear
                out.append("isoWeekYear", .int32(Int32(year)))
                out.append("isoWeek", .int32(Int32(week)))
                out.append("isoDayOfWeek", .int32(Int32(c.isoDayOfWeek)))
            } else {
                out.append("year", .int32(Int32(c.year)))
                out.append("month", .int32(Int32(c.month)))
                out.append("day", .int32(Int32(c.day)))
            }
            out.append("hour", .int32(Int32(c.hour)))
            out.append("minute", .int32(Int32(c.minute)))
            out.append("second", .int32(Int32(c.second)))
            out.append("millisecond", .int32(Int32(c.millisecond)))
            return .document(out)
        }
        t["$dateFromParts"] = .init(arity: (1, 1), takesDocument: true) { args, _ throws(FolioError) in
            let names = ["year", "month", "day", "hour", "minute", "second", "millisecond", "isoWeekYear", "isoWeek", "isoDayOfWeek", "timezone"]
            let spec = try named(args[0], "$dateFromParts", names, code: 40518)
            let iso = spec.index(forKey: "isoWeekYear") != nil
            if iso && ["year", "month", "day"].contains(where: { spec.index(forKey: $0) != nil }) {
                throw FolioError(ErrorCode(rawValue: 40489), "$dateFromParts does not allow mixing natural dates with ISO dates")
            }
            if !iso && spec.index(forKey: "year") == nil {
                throw FolioError(ErrorCode(rawValue: 40516), "$dateFromParts requires either 'year' or 'isoWeekYear' to be present")
            }
            if !iso && ["isoWeek", "isoDayOfWeek"].contains(where: { spec.index(forKey: $0) != nil }) {
                throw FolioError(ErrorCode(rawValue: 40489), "$dateFromParts does not allow mixing natural dates with ISO dates")
            }
            var values: [String: Int64] = [:]
            for name in names where name != "timezone" {
                guard let v = spec[name] else { continue }
                if v.isNullish { return .null }
                guard v.isNumber, let i = v.exactInt64 else {
                    throw FolioError(ErrorCode(rawValue: 40515), "'\(name)' must evaluate to an integer, found \(v.type.alias) with value \(v)")
                }
                if name == "year" || name == "isoWeekYear" {
                    guard i >= 1 && i <= 9999 else {
                        throw FolioError(ErrorCode(rawValue: 40523), "'\(name)' must evaluate to an integer in the range 1 to 9999, found \(i)")
                    }
                } else if i < -32768 || i > 32767 {
                    throw FolioError(ErrorCode(rawValue: 31034), "'\(name)' must evaluate to a value in the range [-32768, 32767]; value \(i) is not in range")
                }
                values[name] = i
            }
            guard let zone = try DateZone.parse(spec["timezone"], "$dateFromParts") else { return .null }
            let time = (values["hour"] ?? 0) * 3_600_000 + (values["minute"] ?? 0) * 60_000 + (values["second"] ?? 0) * 1000 + (values["millisecond"] ?? 0)
            let local: Int64
            if iso {
                // ISO week 1 is the week with the year's first Thursday.
                let y = values["isoWeekYear"]!
                let jan4 = CalendarFields.days(fromCivil: y, 1, 4)
                let jan4Dow = CalendarFields(localMilliseconds: jan4 * 86_400_000).isoDayOfWeek
                let week1Monday = jan4 - (jan4Dow - 1)
                let days = week1Monday + ((values["isoWeek"] ?? 1) - 1) * 7 + ((values["isoDayOfWeek"] ?? 1) - 1)
                local = days * 86_400_000 + time
            } else {
                local = CalendarFields(year: values["year"]!, month: values["month"] ?? 1, day: values["day"] ?? 1).localMilliseconds + time
            }
            return .datetime(zone.utc(fromLocal: local))
        }
        t["$dateAdd"] = .init(arity: (1, 1), takesDocument: true) { args, _ throws(FolioError) in try dateAdd(args[0], "$dateAdd", sign: 1) }
        t["$dateSubtract"] = .init(arity: (1, 1), takesDocument: true) { args, _ throws(FolioError) in try dateAdd(args[0], "$dateSubtract", sign: -1) }
        t["$dateDiff"] = .init(arity: (1, 1), takesDocument: true) { args, _ throws(FolioError) in
            let spec = try named(args[0], "$dateDiff", ["startDate", "endDate", "unit", "timezone", "startOfWeek"], code: 5166302)
            for required in ["startDate", "endDate", "unit"] where spec.index(forKey: required) == nil {
                throw FolioError(ErrorCode(rawValue: 5166303), "Missing '\(required)' parameter to $dateDiff")
            }
            guard let s = spec["startDate"], !s.isNullish, let e = spec["endDate"], !e.isNullish,
                  let u = spec["unit"], !u.isNullish else { return .null }
            let unit = try parseUnit(u, "$dateDiff")
            guard let zone = try DateZone.parse(spec["timezone"], "$dateDiff") else { return .null }
            let startOfWeek = try parseStartOfWeek(spec["startOfWeek"], unit: unit, "$dateDiff")
            if startOfWeek == nil && spec["startOfWeek"]?.isNullish == true { return .null }
            let a = try milliseconds(s, "$dateDiff"), b = try milliseconds(e, "$dateDiff")
            return .int64(dateDiff(zone.local(a), zone.local(b), unit: unit, startOfWeek: startOfWeek ?? 1))
        }
        t["$dateTrunc"] = .init(arity: (1, 1), takesDocument: true) { args, _ throws(FolioError) in
            let spec = try named(args[0], "$dateTrunc", ["date", "unit", "binSize", "timezone", "startOfWeek"], code: 5439007)
            for required in ["date", "unit"] where spec.index(forKey: required) == nil {
                throw FolioError(ErrorCode(rawValue: 5439008), "Missing '\(required)' parameter to $dateTrunc")
            }
            guard let d = spec["date"], !d.isNullish, let u = spec["unit"], !u.isNullish else { return .null }
            let unit = try parseUnit(u, "$dateTrunc")
            var binSize: Int64 = 1
            if let b = spec["binSize"] {
                if b.isNullish { return .null }
                guard b.isNumber, let n = b.exactInt64 else {
                    throw FolioError(ErrorCode(rawValue: 5439017), "$dateTrunc requires 'binSize' to be a 64-bit integer, but got value '\(b)' of type \(b.type.alias)")
                }
                guard n > 0 else {
                    throw FolioError(ErrorCode(rawValue: 5439018), "$dateTrunc requires 'binSize' to be greater than 0, but got value \(n)")
                }
                binSize = n
            }
            guard let zone = try DateZone.parse(spec["timezone"], "$dateTrunc") else { return .null }
            let startOfWeek = try parseStartOfWeek(spec["startOfWeek"], unit: unit, "$dateTrunc")
            if startOfWeek == nil && spec["startOfWeek"]?.isNullish == true { return .null }
            let ms = try milliseconds(d, "$dateTrunc")
            let local = zone.local(ms)
            return .datetime(zone.utc(fromLocal: truncate(local, unit: unit, binSize: binSize, startOfWeek: startOfWeek ?? 1)))
        }
    }

    static func named(_ argument: BSON?, _ op: String, _ allowed: [String], code: Int32) throws(FolioError) -> Document {
        guard case .document(let d)? = argument else {
            throw FolioError(ErrorCode(rawValue: code), "\(op) only supports an object as its argument")
        }
        for k in d.fieldNames where !allowed.contains(k) {
            throw FolioError(ErrorCode(rawValue: code), "Unrecognized argument to \(op): \(k)")
        }
        return d
    }

    enum Unit: String { case year, quarter, month, week, day, hour, minute, second, millisecond }

    static func parseUnit(_ v: BSON, _ op: String) throws(FolioError) -> Unit {
        guard case .string(let s) = v else {
            throw FolioError(ErrorCode(rawValue: 5439013), "\(op) requires 'unit' to be a string, but got \(v.type.alias)")
        }
        guard let unit = Unit(rawValue: s) else {
            throw FolioError(.failedToParse, "\(op) parameter 'unit' value cannot be recognized as a time unit: \(s)")
        }
        return unit
    }

    /// 1 = Sunday … 7 = Saturday; nil when given as null.
    static func parseStartOfWeek(_ v: BSON?, unit: Unit, _ op: String) throws(FolioError) -> Int64? {
        guard let v else { return 1 }
        if v.isNullish { return nil }
        guard case .string(let s) = v else {
            throw FolioError(ErrorCode(rawValue: 5439015), "\(op) requires 'startOfWeek' to be a string, but got \(v.type.alias)")
        }
        let days = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"]
        let lower = s.lowercased()
        guard let i = days.firstIndex(where: { $0 == lower || $0.prefix(3) == lower }) else {
            throw FolioError(ErrorCode(rawValue: 5439016), "\(op) parameter 'startOfWeek' value cannot be recognized as a day of a week: \(s)")
        }
        return Int64(i + 1)
    }

    static func unitMilliseconds(_ unit: Unit) -> Int64? {
        switch unit {
        case .week: return 7 * 86_400_000
        case .day: return 86_400_000
        case .hour: return 3_600_000
        case .minute: return 60_000
        case .second: return 1000
        case .millisecond: return 1
        default: return nil
        }
    }

    static func dateAdd(_ argument: BSON?, _ op: String, sign: Int64) throws(FolioError) -> BSON? {
        let spec = try named(argument, op, ["startDate", "unit", "amount", "timezone"], code: 5166301)
        for required in ["startDate", "unit", "amount"] where spec.index(forKey: required) == nil {
            throw FolioError(ErrorCode(rawValue: 5166402), "\(op) requires '\(required)' to be present")
        }
        guard let s = spec["startDate"], !s.isNullish, let u = spec["unit"], !u.isNullish, let a = spec["amount"], !a.isNullish else { return .null }
        guard case .datetime = s else {
            if case .timestamp = s {} else if case .objectID = s {} else {
                throw FolioError(ErrorCode(rawValue: 5166403), "\(op) requires startDate to be convertible to a date")
            }
            return try dateAdd(.document(spec.replacing("startDate", with: .datetime(try milliseconds(s, op)))), op, sign: sign)
        }
        let unit = try parseUnit(u, op)
        guard a.isNumber, let amount = a.exactInt64 else {
            throw FolioError(ErrorCode(rawValue: 5166404), "\(op) expects integer amount of time units")
        }
        guard let zone = try DateZone.parse(spec["timezone"], op) else { return .null }
        let start = try milliseconds(s, op)
        let overflowed = FolioError(.overflow, "\(op) overflowed")
        guard case (let n, false) = amount.multipliedReportingOverflow(by: sign) else { throw overflowed }
        if let unitMs = unitMilliseconds(unit) {
            guard case (let r, false) = n.multipliedReportingOverflow(by: unitMs) else { throw overflowed }
            if unit == .day || unit == .week, zone.fixedOffsetSeconds == nil {
                // Calendar days in a zone with daylight saving keep the local time of day.
                guard case (let local, false) = zone.local(start).addingReportingOverflow(r) else { throw overflowed }
                return .datetime(zone.utc(fromLocal: local))
            }
            guard case (let sum, false) = start.addingReportingOverflow(r) else { throw overflowed }
            return .datetime(sum)
        }
        guard case (let months, false) = n.multipliedReportingOverflow(by: unit == .year ? 12 : (unit == .quarter ? 3 : 1)),
              let result = addMonths(start, months, zone: zone) else { throw overflowed }
        return .datetime(result)
    }

    /// Adds calendar months, clamping the day to the target month's length; nil when the
    /// result leaves the date range.
    static func addMonths(_ start: Int64, _ months: Int64, zone: DateZone) -> Int64? {
        var c = CalendarFields(localMilliseconds: zone.local(start))
        // A date's year is within ±300 million, so year * 12 fits; adding `months` may not.
        guard case (let total, false) = (c.year * 12 + (c.month - 1)).addingReportingOverflow(months) else { return nil }
        c.year = CalendarFields.floorDiv(total, 12)
        c.month = total - c.year * 12 + 1
        // Past ±292 million years no millisecond count exists.
        guard abs(c.year) < 290_000_000 else { return nil }
        c.day = min(c.day, CalendarFields.daysInMonth(c.year, c.month))
        return zone.utc(fromLocal: c.localMilliseconds)
    }

    static func dateDiff(_ a: Int64, _ b: Int64, unit: Unit, startOfWeek: Int64) -> Int64 {
        let ca = CalendarFields(localMilliseconds: a), cb = CalendarFields(localMilliseconds: b)
        switch unit {
        case .year: return cb.year - ca.year
        case .quarter: return (cb.year * 4 + (cb.month - 1) / 3) - (ca.year * 4 + (ca.month - 1) / 3)
        case .month: return (cb.year * 12 + cb.month) - (ca.year * 12 + ca.month)
        case .week:
            func weekStart(_ c: CalendarFields) -> Int64 {
                let offset = (c.dayOfWeek - startOfWeek + 7) % 7
                return c.daysSinceEpoch - offset
            }
            return (weekStart(cb) - weekStart(ca)) / 7
        default:
            let u = unitMilliseconds(unit)!
            return CalendarFields.floorDiv(b, u) - CalendarFields.floorDiv(a, u)
        }
    }

    /// The start of `local`'s bin. Bins wider than the date range (a huge binSize) all start
    /// at the reference, as they would if the arithmetic did not overflow.
    static func truncate(_ local: Int64, unit: Unit, binSize: Int64, startOfWeek: Int64) -> Int64 {
        let c = CalendarFields(localMilliseconds: local)
        // No bin is wider than the date range: 2^41 months, 2^38 weeks, 2^63 milliseconds.
        let binSize = min(binSize, 1 << 36)
        switch unit {
        case .year, .quarter, .month:
            let monthsPerBin = binSize * (unit == .year ? 12 : (unit == .quarter ? 3 : 1))
            let since2000 = (c.year - 2000) * 12 + (c.month - 1)
            let bin = CalendarFields.floorDiv(since2000, monthsPerBin) * monthsPerBin
            let year = 2000 + CalendarFields.floorDiv(bin, 12)
            // A bin that starts before the first representable date starts at it.
            guard abs(year) < 290_000_000 else { return year < 0 ? .min : .max }
            return CalendarFields(year: year, month: bin - CalendarFields.floorDiv(bin, 12) * 12 + 1, day: 1).localMilliseconds
        case .week:
            // Weeks are counted from the first `startOfWeek` day on or after 2000-01-01.
            let ref2000 = CalendarFields.days(fromCivil: 2000, 1, 1)
            let refDow = CalendarFields(localMilliseconds: ref2000 * 86_400_000).dayOfWeek
            let reference = ref2000 + (startOfWeek - refDow + 7) % 7
            let days = c.daysSinceEpoch - reference
            let bin = CalendarFields.floorDiv(days, 7 * binSize) * 7 * binSize
            guard case (let start, false) = (reference + bin).multipliedReportingOverflow(by: 86_400_000) else { return bin < 0 ? .min : .max }
            return start
        default:
            let reference = CalendarFields.days(fromCivil: 2000, 1, 1) * 86_400_000
            guard case (let u, false) = unitMilliseconds(unit)!.multipliedReportingOverflow(by: binSize),
                  case (let since, false) = local.subtractingReportingOverflow(reference),
                  case (let start, false) = CalendarFields.floorDiv(since, u).multipliedReportingOverflow(by: u) else { return reference }
            return reference.addingSaturated(start)
        }
    }

    static let formatSpecifiers: Set<Character> = ["d", "G", "H", "j", "L", "m", "M", "S", "w", "u", "U", "V", "Y", "z", "Z", "%", "b", "B"]

    static func validateFormat(_ format: String, _ op: String) throws(FolioError) {
        var it = format.makeIterator()
        while let ch = it.next() {
            guard ch == "%" else { continue }
            guard let spec = it.next() else {
                throw FolioError(ErrorCode(rawValue: 18535), "Unmatched '%' at end of format string")
            }
            guard formatSpecifiers.contains(spec) else {
                throw FolioError(ErrorCode(rawValue: 18536), "Invalid format character '%\(spec)' in format string")
            }
        }
    }

    static func pad(_ v: Int64, _ width: Int) -> String {
        let s = String(abs(v))
        return (v < 0 ? "-" : "") + String(repeating: "0", count: max(0, width - s.count)) + s
    }

    static func formatDate(_ ms: Int64, _ format: String, _ zone: DateZone) throws(FolioError) -> String {
        let offset = zone.offsetSeconds(atUTC: ms)
        let c = CalendarFields(localMilliseconds: DateZone.local(ms, offsetSeconds: offset))
        var out = ""
        var it = format.makeIterator()
        while let ch = it.next() {
            guard ch == "%" else { out.append(ch); continue }
            guard let spec = it.next() else { break }
            switch spec {
            case "Y":
                guard c.year >= 0 && c.year <= 9999 else {
                    throw FolioError(ErrorCode(rawValue: 18537), "Could not convert date to string: date component was outside the supported range of 0-9999: \(c.year)")
                }
                out += pad(c.year, 4)
            case "G": out += pad(c.isoWeekAndYear.year, 4)
            case "m": out += pad(c.month, 2)
            case "d": out += pad(c.day, 2)
            case "H": out += pad(c.hour, 2)
            case "M": out += pad(c.minute, 2)
            case "S": out += pad(c.second, 2)
            case "L": out += pad(c.millisecond, 3)
            case "j": out += pad(c.dayOfYear, 3)
            case "w": out += String(c.dayOfWeek)
            case "u": out += String(c.isoDayOfWeek)
            case "U": out += pad(c.week, 2)
            case "V": out += pad(c.isoWeekAndYear.week, 2)
            case "z":
                let m = abs(offset) / 60
                out += (offset < 0 ? "-" : "+") + pad(Int64(m / 60), 2) + pad(Int64(m % 60), 2)
            case "Z": out += (offset < 0 ? "-" : "+") + String(abs(offset) / 60)
            case "b": out += String(monthNames[Int(c.month - 1)].prefix(3))
            case "B": out += monthNames[Int(c.month - 1)]
            case "%": out += "%"
            default: break
            }
        }
        return out
    }

    /// Parses a date string with a format, or MongoDB's default ISO-8601-like forms.
    static func parseDate(_ s: String, format: String?, zone: DateZone, explicitZone: Bool) throws(FolioError) -> Int64 {
        func fail(_ why: String) -> FolioError {
            FolioError(.conversionFailure, "Error parsing date string '\(s)'; \(why)")
        }
        let u = Array(s.utf8)
        var i = 0
        var year: Int64?, month: Int64 = 1, day: Int64 = 1, hour: Int64 = 0, minute: Int64 = 0, second: Int64 = 0, millis: Int64 = 0
        var isoYear: Int64?, isoWeek: Int64?, isoDay: Int64?, dayOfYear: Int64?
        var offset: Int?
        func number(_ maxDigits: Int, _ what: String) throws(FolioError) -> Int64 {
            var n: Int64 = 0, count = 0
            while i < u.count, count < maxDigits, u[i] >= 48, u[i] <= 57 {
                n = n * 10 + Int64(u[i] - 48); i += 1; count += 1
            }
            guard count > 0 else { throw fail("expected \(what)") }
            return n
        }
        func zoneSuffix() throws(FolioError) {
            guard i < u.count else { return }
            if u[i] == UInt8(ascii: "Z") { offset = 0; i += 1; return }
            if u[i] == UInt8(ascii: "+") || u[i] == UInt8(ascii: "-") {
                var j = i + 1
                while j < u.count, (u[j] >= 48 && u[j] <= 57) || u[j] == UInt8(ascii: ":") { j += 1 }
                guard let o = DateZone.parseOffset(String(decoding: u[i..<j], as: UTF8.self)) else { throw fail("bad timezone offset") }
                offset = o; i = j
                return
            }
            // A trailing zone name.
            let rest = String(decoding: u[i...], as: UTF8.self).trimmingCharacters(in: .whitespaces)
            if rest == "UTC" || rest == "GMT" { offset = 0; i = u.count; return }
            throw fail("trailing data")
        }
        if let format {
            var f = Array(format)[...]
            while let ch = f.first {
                f = f.dropFirst()
                if ch == "%" {
                    guard let spec = f.first else { break }
                    f = f.dropFirst()
                    switch spec {
                    case "Y": year = try number(4, "year")
                    case "G": isoYear = try number(4, "ISO year")
                    case "m": month = try number(2, "month")
                    case "d": day = try number(2, "day")
                    case "H": hour = try number(2, "hour")
                    case "M": minute = try number(2, "minute")
                    case "S": second = try number(2, "second")
                    case "L": millis = try number(3, "milliseconds")
                    case "j": dayOfYear = try number(3, "day of year")
                    case "V": isoWeek = try number(2, "ISO week")
                    case "u": isoDay = try number(1, "ISO day of week")
                    case "w": _ = try number(1, "day of week")
                    case "U": _ = try number(2, "week")
                    case "z", "Z":
                        try zoneSuffix()
                    case "b", "B":
                        let rest = String(decoding: u[i...], as: UTF8.self).lowercased()
                        guard let m = monthNames.firstIndex(where: { rest.hasPrefix($0.lowercased()) || rest.hasPrefix($0.lowercased().prefix(3)) }) else {
                            throw fail("expected a month name")
                        }
                        let name = monthNames[m].lowercased()
                        i += rest.hasPrefix(name) ? name.utf8.count : 3
                        month = Int64(m + 1)
                    case "%":
                        guard i < u.count, u[i] == UInt8(ascii: "%") else { throw fail("expected '%'") }
                        i += 1
                    default: throw fail("unknown format specifier")
                    }
                } else {
                    let bytes = Array(String(ch).utf8)
                    guard i + bytes.count <= u.count, Array(u[i..<(i + bytes.count)]) == bytes else {
                        throw fail("format mismatch, expected '\(ch)'")
                    }
                    i += bytes.count
                }
            }
            guard i == u.count else { throw fail("trailing data") }
        } else {
            year = try number(4, "year")
            guard i < u.count, u[i] == UInt8(ascii: "-") || u[i] == UInt8(ascii: "/") else { throw fail("expected a date") }
            let separator = u[i]; i += 1
            month = try number(2, "month")
            guard i < u.count, u[i] == separator else { throw fail("expected a day") }
            i += 1
            day = try number(2, "day")
            if i < u.count, u[i] == UInt8(ascii: "T") || u[i] == UInt8(ascii: " ") {
                i += 1
                hour = try number(2, "hour")
                guard i < u.count, u[i] == UInt8(ascii: ":") else { throw fail("expected minutes") }
                i += 1
                minute = try number(2, "minute")
                if i < u.count, u[i] == UInt8(ascii: ":") {
                    i += 1
                    second = try number(2, "second")
                    if i < u.count, u[i] == UInt8(ascii: ".") {
                        i += 1
                        let start = i
                        let frac = try number(9, "fraction")
                        let digits = i - start
                        millis = digits >= 3 ? frac / Int64(pow(10.0, Double(digits - 3))) : frac * Int64(pow(10.0, Double(3 - digits)))
                    }
                }
            }
            try zoneSuffix()
            guard i == u.count else { throw fail("trailing data") }
        }
        if offset != nil && explicitZone {
            throw FolioError(.conversionFailure, "you cannot pass in a date/time string with GMT offset together with a timezone argument")
        }
        guard month >= 1 && month <= 12 else { throw fail("month out of range") }
        guard hour <= 23, minute <= 59, second <= 59 else { throw fail("time out of range") }
        let local: Int64
        if let isoYear {
            let jan4 = CalendarFields.days(fromCivil: isoYear, 1, 4)
            let jan4Dow = CalendarFields(localMilliseconds: jan4 * 86_400_000).isoDayOfWeek
            let days = jan4 - (jan4Dow - 1) + ((isoWeek ?? 1) - 1) * 7 + ((isoDay ?? 1) - 1)
            local = days * 86_400_000
        } else {
            guard let year else { throw fail("no year") }
            if let dayOfYear {
                local = (CalendarFields.days(fromCivil: year, 1, 1) + dayOfYear - 1) * 86_400_000
            } else {
                guard day >= 1 && day <= CalendarFields.daysInMonth(year, month) else { throw fail("day out of range") }
                local = CalendarFields(year: year, month: month, day: day).localMilliseconds
            }
        }
        let ms = local + hour * 3_600_000 + minute * 60_000 + second * 1000 + millis
        if let offset { return ms - Int64(offset) * 1000 }
        return zone.utc(fromLocal: ms)
    }
}

extension Document {
    func replacing(_ key: String, with value: BSON) -> Document {
        var d = self
        d[key] = value
        return d
    }
}
