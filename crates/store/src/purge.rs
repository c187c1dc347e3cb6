//! `haul store purge`: removes spooled releases nothing needs. The caller
//! says what to keep (every release any environment has blessed now or in
//! its last N blessings); this removes the rest, the index last, so an
//! interrupted purge leaves no index naming a missing archive.
