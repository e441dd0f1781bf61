//! placeholder, replaced by the consul emulator's author
