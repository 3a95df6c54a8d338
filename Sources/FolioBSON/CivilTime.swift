// UTC calendar arithmetic without Foundation (Howard Hinnant's civil-from-days algorithms),
// used for Extended JSON dates and, later, date operators.

/// A UTC date and time of day broken into fields.
public struct CivilTime: Equatable, Sendable {
    public var year: Int
    public var month: Int
    public var day: Int
    public var hour: Int
    public var minute: Int
    public var second: Int
    public var millisecond: Int

    public init(year: Int, month: Int, day: Int, hour: Int = 0, minute: Int = 0, second: Int = 0, millisecond: Int = 0) {
        self.year = year; self.month = month; self.day = day
        self.hour = hour; self.minute = minute; self.second = second; self.millisecond = millisecond
    }

    /// Fields of a time given in milliseconds since the epoch.
    public init(millisecondsSinceEpoch ms: Int64) {
        let msPerDay: Int64 = 86_400_000
        var days = ms / msPerDay
        var rest = ms % msPerDay
        if rest < 0 { rest += msPerDay; days -= 1 }
        let (y, m, d) = CivilTime.civil(fromDays: Int(days))
        self.init(year: y, month: m, day: d, hour: Int(rest / 3_600_000), minute: Int(rest / 60_000 % 60),
                  second: Int(rest / 1000 % 60), millisecond: Int(rest % 1000))
    }

    /// Milliseconds since the epoch.
    public var millisecondsSinceEpoch: Int64 {
        let days = Int64(CivilTime.days(fromCivil: year, month, day))
        return days * 86_400_000 + Int64(hour) * 3_600_000 + Int64(minute) * 60_000 + Int64(second) * 1000 + Int64(millisecond)
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date.
    public static func days(fromCivil year: Int, _ month: Int, _ day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// The proleptic Gregorian date of a day number (days since 1970-01-01).
    public static func civil(fromDays z0: Int) -> (Int, Int, Int) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }

    /// ISO-8601 UTC text: `YYYY-MM-DDTHH:MM:SS[.mmm]Z` (milliseconds only when non-zero).
    public var iso8601: String {
        func pad(_ v: Int, _ n: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, n - s.count)) + s
        }
        var out = "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(hour, 2)):\(pad(minute, 2)):\(pad(second, 2))"
        if millisecond != 0 { out += "." + pad(millisecond, 3) }
        return out + "Z"
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM|±HHMM)` into milliseconds since the epoch.
    public static func parseISO8601(_ text: String) -> Int64? {
        let b = Array(text.utf8)
        var i = 0
        func number(_ count: Int) -> Int? {
            guard i + count <= b.count else { return nil }
            var v = 0
            for k in 0..<count {
                let c = b[i + k]
                guard c >= 0x30 && c <= 0x39 else { return nil }
                v = v * 10 + Int(c - 0x30)
            }
            i += count
            return v
        }
        func expect(_ c: Character) -> Bool {
            guard i < b.count, b[i] == c.asciiValue! else { return false }
            i += 1
            return true
        }
        guard let year = number(4), expect("-"), let month = number(2), expect("-"), let day = number(2),
              expect("T"), let hour = number(2), expect(":"), let minute = number(2), expect(":"), let second = number(2)
        else { return nil }
        var millisecond = 0
        if i < b.count && b[i] == UInt8(ascii: ".") {
            i += 1
            var digits = 0
            var fraction = 0
            while i < b.count && b[i] >= 0x30 && b[i] <= 0x39 {
                if digits < 3 { fraction = fraction * 10 + Int(b[i] - 0x30) }
                digits += 1
                i += 1
            }
            guard digits > 0 else { return nil }
            for _ in digits..<max(digits, 3) { fraction *= 10 }
            millisecond = fraction
        }
        var offsetMinutes = 0
        if expect("Z") {
        } else if i < b.count && (b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-")) {
            let negative = b[i] == UInt8(ascii: "-")
            i += 1
            guard let h = number(2) else { return nil }
            _ = expect(":")
            guard let m = number(2) else { return nil }
            offsetMinutes = (h * 60 + m) * (negative ? -1 : 1)
        } else {
            return nil
        }
        guard i == b.count, (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 60 else {
            return nil
        }
        let t = CivilTime(year: year, month: month, day: day, hour: hour, minute: minute, second: second,
                          millisecond: millisecond)
        return t.millisecondsSinceEpoch - Int64(offsetMinutes) * 60_000
    }
}
