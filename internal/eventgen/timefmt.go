package eventgen

// appendTimestamp appends the UTC time us (microseconds since the Unix
// epoch) in the form analytics.js and the mobile libraries send,
// 2024-06-01T12:00:00.123Z. It is written out because it runs four times
// per message and time.Time.AppendFormat costs several times more.
func appendTimestamp(b []byte, us int64) []byte {
	b, frac := appendDateTime(b, us)
	b = append(b, '.')
	b = append3(b, int(frac/1000))
	return append(b, 'Z')
}

// appendTimestampPython appends us the way analytics-python's
// datetime.isoformat() does, 2024-06-01T12:00:00.123456+00:00, so that
// consumers meet more than one timestamp style.
func appendTimestampPython(b []byte, us int64) []byte {
	b, frac := appendDateTime(b, us)
	b = append(b, '.')
	b = append3(b, int(frac/1000))
	b = append3(b, int(frac%1000))
	return append(b, "+00:00"...)
}

// appendDateTime appends 2006-01-02T15:04:05 and returns the microseconds
// within the second.
func appendDateTime(b []byte, us int64) ([]byte, int64) {
	sec := floorDiv(us, 1_000_000)
	frac := us - sec*1_000_000
	days := floorDiv(sec, 86400)
	sod := int(sec - days*86400)
	y, m, d := civil(days)
	b = append4(b, y)
	b = append(b, '-')
	b = append2(b, m)
	b = append(b, '-')
	b = append2(b, d)
	b = append(b, 'T')
	b = append2(b, sod/3600)
	b = append(b, ':')
	b = append2(b, sod/60%60)
	b = append(b, ':')
	b = append2(b, sod%60)
	return b, frac
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b < 0 {
		q--
	}
	return q
}

// civil converts days since 1970-01-01 to a proleptic Gregorian date, after
// Howard Hinnant's days_from_civil inverse.
func civil(days int64) (y, m, d int) {
	z := days + 719468
	era := floorDiv(z, 146097)
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = int(doy - (153*mp+2)/5 + 1)
	if mp < 10 {
		m = int(mp + 3)
	} else {
		m = int(mp - 9)
	}
	y = int(yoe + era*400)
	if m <= 2 {
		y++
	}
	return y, m, d
}

func append2(b []byte, v int) []byte {
	return append(b, byte('0'+v/10), byte('0'+v%10))
}

func append3(b []byte, v int) []byte {
	return append(b, byte('0'+v/100), byte('0'+v/10%10), byte('0'+v%10))
}

func append4(b []byte, v int) []byte {
	return append(b, byte('0'+v/1000%10), byte('0'+v/100%10), byte('0'+v/10%10), byte('0'+v%10))
}
