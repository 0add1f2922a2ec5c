-- Data-subject requests name their subject in one spelling from now on
-- (an E.164 number, or a lower-case account id), so that erasing an
-- account finds every request about it. Earlier requests are brought to
-- that spelling where it is plain how: a number written with spaces,
-- hyphens, dots, slashes or parentheses, an account id in capitals.
UPDATE dsr_requests
SET subject = replace(replace(replace(replace(replace(replace(subject, ' ', ''), '-', ''), '.', ''), '(', ''), ')', ''), '/', '')
WHERE subject GLOB '+[0-9 .()/-]*' AND substr(subject, 2) NOT GLOB '*[^0-9 .()/-]*';
UPDATE dsr_requests SET subject = lower(subject)
WHERE length(subject) = 36 AND subject GLOB '[0-9a-fA-F]*-*-*-*-*' AND subject NOT GLOB '*[^0-9a-fA-F-]*';
