//! Printers: `iptables-save` format (parse → print → parse is the identity) and text for
//! humans.
