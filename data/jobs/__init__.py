"""Background work: start-up preparation, the live simulator loop, alert rules, leader election."""
