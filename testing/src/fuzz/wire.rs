//! The wire formats: `parse` never panics, and what it accepts `emit`
//! writes back in `buffer_len` bytes as something that parses the same.

use std::string::String;
use std::vec;
use std::vec::Vec;

use udpkit::smoltcp::wire::IpCidr;
use udpkit::wire::chat::{Command, ServerLine};
use udpkit::wire::discovery::{
    Field, ReplyPacket, ReplyRepr, RequestRepr, ServiceEntry, MAX_REPLY,
};
use udpkit::wire::ntp::{Leap, Mode, NtpShort, NtpTimestamp, HEADER_LEN};
use udpkit::wire::{strip_line_ending, NtpPacket, NtpRepr};

use super::Input;

/// NTP: any 48 bytes or more are a header; emitting it writes those 48
/// bytes back exactly (every bit of the header is a field), and a header
/// built from arbitrary field values reads back as built.
pub fn wire_ntp(data: &[u8]) {
    // The accessors of an unchecked packet never panic, whatever its length.
    let unchecked = NtpPacket::new_unchecked(data);
    let _ = (
        unchecked.leap(),
        unchecked.version(),
        unchecked.mode(),
        unchecked.transmit_timestamp(),
        unchecked.reference_id(),
    );
    match NtpPacket::new_checked(data) {
        Err(_) => assert!(data.len() < HEADER_LEN, "{} bytes refused", data.len()),
        Ok(packet) => {
            let repr = NtpRepr::parse(&packet).expect("a checked packet parses");
            assert_eq!(repr.buffer_len(), HEADER_LEN);
            let mut buffer = [0u8; HEADER_LEN];
            repr.emit(&mut NtpPacket::new_unchecked(&mut buffer[..]));
            assert_eq!(&buffer[..], &data[..HEADER_LEN], "emit rewrites the header");
            let again = NtpRepr::parse(&NtpPacket::new_checked(&buffer[..]).unwrap()).unwrap();
            assert_eq!(again, repr);
        }
    }
    // The other way: a header built field by field.
    let mut input = Input::new(data);
    let repr = NtpRepr {
        leap: Leap::from_bits(input.u8()),
        version: input.u8() & 7,
        mode: Mode::from_bits(input.u8()),
        stratum: input.u8(),
        poll: input.u8() as i8,
        precision: input.u8() as i8,
        root_delay: NtpShort(input.u32()),
        root_dispersion: NtpShort(input.u32()),
        reference_id: [input.u8(), input.u8(), input.u8(), input.u8()],
        reference_timestamp: NtpTimestamp(input.u64()),
        origin_timestamp: NtpTimestamp(input.u64()),
        receive_timestamp: NtpTimestamp(input.u64()),
        transmit_timestamp: NtpTimestamp(input.u64()),
    };
    let mut buffer = vec![0u8; repr.buffer_len()];
    repr.emit(&mut NtpPacket::new_unchecked(&mut buffer[..]));
    let again = NtpRepr::parse(&NtpPacket::new_checked(&buffer[..]).unwrap()).unwrap();
    assert_eq!(again, repr, "a built header reads back");
}

/// Discovery: a request that parses is written back in `buffer_len` bytes
/// and parses the same; a reply's fields, written again as a directory,
/// read back as the same fields.
pub fn wire_discovery(data: &[u8]) {
    if let Ok(request) = RequestRepr::parse(data) {
        let mut buffer = vec![0u8; request.buffer_len()];
        let len = request.emit(&mut buffer).expect("buffer_len bytes hold it");
        assert_eq!(len, request.buffer_len());
        assert_eq!(
            RequestRepr::parse(&buffer),
            Ok(request),
            "request round trip"
        );
        if !buffer.is_empty() {
            let short = buffer.len() - 1;
            assert!(
                request.emit(&mut buffer[..short]).is_err(),
                "a short buffer fails"
            );
        }
    }
    let Ok(packet) = ReplyPacket::new_checked(data) else {
        return;
    };
    assert!(packet.version() >= 1);
    let fields: Vec<Field<'_>> = packet.fields().collect();
    let name = fields.iter().find_map(|f| match f {
        Field::Name(name) => Some(*name),
        _ => None,
    });
    assert_eq!(packet.name(), name);
    let Some(name) = name else { return };
    let mac = fields.iter().find_map(|f| match f {
        Field::Mac(mac) => Some(*mac),
        _ => None,
    });
    let addresses: Vec<IpCidr> = fields
        .iter()
        .filter_map(|f| match f {
            Field::Address(a) => Some(*a),
            _ => None,
        })
        .collect();
    let services: Vec<ServiceEntry<'_>> = fields
        .iter()
        .filter_map(|f| match f {
            Field::Service(s) => Some(*s),
            _ => None,
        })
        .collect();
    let repr = ReplyRepr {
        name,
        mac,
        addresses: &addresses,
        services: &services,
    };
    if repr.check().is_err() {
        return;
    }
    let mut buffer = [0u8; MAX_REPLY];
    let len = repr
        .emit(&mut buffer)
        .expect("a checked directory fits MAX_REPLY");
    let again = ReplyPacket::new_checked(&buffer[..len]).expect("an emitted reply parses");
    let mut expected = vec![Field::Name(name)];
    expected.extend(mac.map(Field::Mac));
    expected.extend(addresses.iter().map(|a| Field::Address(*a)));
    expected.extend(services.iter().map(|s| Field::Service(*s)));
    assert_eq!(
        again.fields().collect::<Vec<_>>(),
        expected,
        "reply round trip"
    );
}

/// A chat client's line: what parses is written back in `buffer_len`
/// bytes, as `Display` writes it, and parses the same.
pub fn wire_chat_command(data: &[u8]) {
    let Ok(command) = Command::parse(data) else {
        assert!(
            core::str::from_utf8(strip_line_ending(data)).is_err(),
            "UTF-8 text is always a command or a message"
        );
        return;
    };
    let len = command.buffer_len();
    let mut buffer = vec![0u8; len];
    assert_eq!(
        command.emit(&mut buffer),
        Ok(len),
        "emit writes buffer_len bytes"
    );
    if len > 0 {
        assert!(
            command.emit(&mut buffer[..len - 1]).is_err(),
            "a short buffer fails"
        );
    }
    let mut shown = String::new();
    core::fmt::write(&mut shown, format_args!("{command}")).unwrap();
    assert_eq!(
        shown.as_bytes(),
        &buffer[..],
        "Display is the line on the wire"
    );
    assert_eq!(Command::parse(&buffer), Ok(command), "command round trip");
}

/// A chat server's line: the same round trip, and no control character in
/// what is written but line ends.
pub fn wire_chat_server_line(data: &[u8]) {
    let Ok(line) = ServerLine::parse(data) else {
        return;
    };
    let len = line.buffer_len();
    let mut buffer = vec![0u8; len];
    assert_eq!(
        line.emit(&mut buffer),
        Ok(len),
        "emit writes buffer_len bytes"
    );
    assert!(
        len > 0 && buffer[len - 1] == b'\n',
        "every line ends with \\n"
    );
    assert!(
        line.emit(&mut buffer[..len - 1]).is_err(),
        "a short buffer fails"
    );
    let text = core::str::from_utf8(&buffer).expect("a server line is UTF-8");
    assert!(
        !text.chars().any(|c| c.is_control() && c != '\n'),
        "a control character would reach a terminal: {text:?}"
    );
    let mut shown = String::new();
    core::fmt::write(&mut shown, format_args!("{line}")).unwrap();
    assert_eq!(
        std::format!("{shown}\n"),
        text,
        "Display is the line less its \\n"
    );
    assert_eq!(
        ServerLine::parse(&buffer),
        Ok(line),
        "server line round trip"
    );
}
